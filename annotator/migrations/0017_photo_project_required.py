# Step 2 (its own migration: PostgreSQL refuses to alter a table with the update's checks pending).
import django.db.models.deletion
from django.db import migrations, models

import annotator.models


class Migration(migrations.Migration):

    dependencies = [
        ('annotator', '0016_photo_project'),
    ]

    operations = [
        migrations.AlterField(
            model_name='photo',
            name='project',
            field=models.ForeignKey(default=annotator.models.default_project_id, on_delete=django.db.models.deletion.CASCADE, related_name='photos', to='annotator.project'),
        ),
        migrations.AlterField(
            model_name='photo',
            name='sha256',
            field=models.CharField(max_length=64),
        ),
        migrations.AddConstraint(
            model_name='photo',
            constraint=models.UniqueConstraint(fields=('project', 'sha256'), name='photo_once_per_project'),
        ),
    ]
