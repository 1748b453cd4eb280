"""An index for an annotator's latest answers at a million answers (issue 19).

On PostgreSQL it is built CONCURRENTLY (atomic = False): annotators keep answering while it builds on
a live table of a million answers. Elsewhere (SQLite), a plain CREATE INDEX.
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
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='annotation',
            index=models.Index(fields=['annotator', 'created_at', 'id'], name='annotation_by_annotator_time'),
        ),
    ]
