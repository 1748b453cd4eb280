from django.db import migrations, models
from django.db.models import Count


def name_single_answers(apps, schema_editor):
    """An agreed final label resting on one answer is one annotator's, not an agreement."""
    Face = apps.get_model("annotator", "Face")
    single = (Face.objects.filter(final_source="agreement").annotate(n=Count("annotations")).filter(n__lte=1)
              .values("id"))
    Face.objects.filter(id__in=single).update(final_source="single")


def back_to_agreement(apps, schema_editor):
    Face = apps.get_model("annotator", "Face")
    Face.objects.filter(final_source="single").update(final_source="agreement")


class Migration(migrations.Migration):

    dependencies = [
        ('annotator', '0011_gold_calibration_standing'),
    ]

    operations = [
        migrations.AlterField(
            model_name='face',
            name='final_source',
            field=models.CharField(blank=True, choices=[('', 'not final'), ('single', 'one annotator'), ('agreement', 'annotators agree'), ('review', "reviewer's decision"), ('import', 'imported label'), ('gold', 'gold reference')], default='', max_length=16),
        ),
        migrations.RunPython(name_single_answers, back_to_agreement),
    ]
