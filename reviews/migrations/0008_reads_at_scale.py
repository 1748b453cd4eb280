"""Indexes for the review queue's reads at a million faces (issue 19).

On PostgreSQL the indexes are built CONCURRENTLY (atomic = False): the flag table stays writable while
they build, so the migration can run on a live database with 100,000 open flags. Elsewhere (SQLite),
a plain CREATE INDEX.
"""
from django.conf import settings
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(migrations.AddIndex):
    """AddIndex that builds with CREATE INDEX CONCURRENTLY on PostgreSQL (as
    django.contrib.postgres.operations.AddIndexConcurrently, which other databases refuse)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ('annotator', '0018_console_actions'),
        ('reviews', '0007_spot_check_flags'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='flag',
            index=models.Index(condition=models.Q(('status', 'open')), fields=['-severity', 'created_at', 'id'], name='flag_open_queue_order'),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name='flag',
            index=models.Index(condition=models.Q(('status', 'open')), fields=['reason', 'face'], name='flag_open_reason_face'),
        ),
    ]
