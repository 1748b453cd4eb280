# A photo record belongs to a project (the same photo may be imported into two). Step 1: the column,
# and existing photos into the "default" project (migration 0014 put every face there).
import django.db.models.deletion
from django.db import migrations, models


def into_default_project(apps, schema_editor):
    project = apps.get_model("annotator", "Project").objects.filter(slug="default").first()
    photos = apps.get_model("annotator", "Photo").objects.filter(project__isnull=True)
    if project is not None:
        photos.update(project=project)


class Migration(migrations.Migration):

    dependencies = [
        ('annotator', '0015_projects_required'),
    ]

    operations = [
        migrations.AddField(
            model_name='photo',
            name='project',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, related_name='photos', to='annotator.project'),
        ),
        migrations.RunPython(into_default_project, migrations.RunPython.noop),
    ]
