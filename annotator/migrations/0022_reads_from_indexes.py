"""Two indexes for reads at a million answers (issue 19): an annotator's answering times in order (the
feedback page's count and median from the index alone), and the answers by time (the projects
overview's answers in the last hour, day and week: a range of the index, not a scan of every answer).

Built CONCURRENTLY on PostgreSQL (annotators keep answering meanwhile), as 0019 does.
"""
from importlib import import_module

from django.conf import settings
from django.db import migrations, models

AddIndexConcurrentlyOnPostgres = import_module("annotator.migrations.0019_reads_at_scale").AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ('annotator', '0021_assign_splits_job'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='annotation',
            index=models.Index(fields=['annotator', 'seconds_spent'], name='annotation_by_annotator_secs'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='annotation',
            index=models.Index(fields=['created_at'], name='annotation_by_time'),
        ),
    ]
