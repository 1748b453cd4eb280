from django.db import migrations


def copy_gold_references(apps, schema_editor):
    """Give the core the known label of each gold item there is (calibration and the rolling gold
    accuracy read annotator.GoldReference, as the queue reads Face.is_gold)."""
    GoldItem = apps.get_model("reviews", "GoldItem")
    GoldReference = apps.get_model("annotator", "GoldReference")
    GoldReference.objects.bulk_create(
        [GoldReference(face_id=g.face_id, category=g.category, valence=g.valence, arousal=g.arousal)
         for g in GoldItem.objects.all()],
        ignore_conflicts=True,
    )


def drop_gold_references(apps, schema_editor):
    apps.get_model("annotator", "GoldReference").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ('reviews', '0004_gold_faces_marked_in_core'),
        ('annotator', '0011_gold_calibration_standing'),
    ]

    operations = [
        migrations.RunPython(copy_gold_references, drop_gold_references),
    ]
