"""The feedback page at a million answers (issue 19): the annotator's (annotator, seconds) index also
carries each answer's face and category, so their reviewed and overturned answers (a join with the
decisions) and their gold accuracy read the index alone, not one heap row per answer (278 ms at 1M).

Built CONCURRENTLY on PostgreSQL (annotators keep answering meanwhile) before the narrower index goes.
"""
from importlib import import_module

from django.conf import settings
from django.db import migrations, models

AddIndexConcurrentlyOnPostgres = import_module("annotator.migrations.0019_reads_at_scale").AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ('annotator', '0022_reads_from_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='annotation',
            index=models.Index(fields=['annotator', 'seconds_spent'], include=['face', 'category'],
                               name='annotation_by_annotator_cover'),
        ),
        migrations.RemoveIndex(model_name='annotation', name='annotation_by_annotator_secs'),
    ]
