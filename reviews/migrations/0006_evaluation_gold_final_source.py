from django.db import migrations
from django.db.models import Exists, OuterRef, Q


def name_gold_labels(apps, schema_editor):
    """A gold face whose final label is its reference label has the source gold (a decided label).

    Gold marks made before this did not set the final label; those whose final label differs keep it
    until the face is marked again (marking now makes the reference the final label).
    """
    Face = apps.get_model("annotator", "Face")
    GoldItem = apps.get_model("reviews", "GoldItem")
    same = GoldItem.objects.filter(face_id=OuterRef("pk"), category=OuterRef("final_category")).filter(
        # No point: Uncertain or No-Face, and the final label of that category has none either.
        Q(valence__isnull=True) | Q(valence=OuterRef("final_valence"), arousal=OuterRef("final_arousal"))
    )
    Face.objects.filter(is_gold=True, final_category__isnull=False).filter(Exists(same)).update(final_source="gold")


def gold_to_answers(apps, schema_editor):
    Face = apps.get_model("annotator", "Face")
    Face.objects.filter(final_source="gold", answer_count__lte=1).update(final_source="single")
    Face.objects.filter(final_source="gold").update(final_source="agreement")


class Migration(migrations.Migration):

    dependencies = [
        ('reviews', '0005_gold_references_to_core'),
        ('annotator', '0012_evaluation_final_sources'),
    ]

    operations = [
        migrations.RunPython(name_gold_labels, gold_to_answers),
    ]
