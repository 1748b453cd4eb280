from django.db import migrations


def mark_gold_faces(apps, schema_editor):
    """Set the core's Face.is_gold for the gold items there are (the queue now reads that flag)."""
    Face = apps.get_model("annotator", "Face")
    GoldItem = apps.get_model("reviews", "GoldItem")
    Face.objects.filter(id__in=GoldItem.objects.values("face_id")).update(is_gold=True)


class Migration(migrations.Migration):

    dependencies = [
        ('reviews', '0003_imported_label_flags'),
        ('annotator', '0007_face_is_gold'),
    ]

    operations = [
        migrations.RunPython(mark_gold_faces, migrations.RunPython.noop),
    ]
