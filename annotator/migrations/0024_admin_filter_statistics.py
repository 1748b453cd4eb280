"""The admin's lists at a million rows (issue 19): PostgreSQL's statistics on how the columns that the
face, answer and suggestion lists filter on go together (CREATE STATISTICS: most common combinations and
functional dependencies), so that its estimate of a filtered list's rows, which the admin shows as "about
N" (annotator.web.admin_paging), is near the truth for combined filters: without them the planner
multiplies the filters' shares, and a validation-split filter with "needs review" (no such face) was
estimated at 4,770 faces. Nothing on SQLite. The next ANALYZE (autovacuum's, or the bench's) fills them.
"""
from django.db import migrations

STATISTICS = {
    "annotator_face_admin_filters": ("annotator_face", "project_id, split, final_source, final_category, needs_review,"
                                     " required_annotations"),
    "annotator_annotation_admin_filters": ("annotator_annotation", "category, shown_blind, kept_suggestion, annotator_id"),
    "annotator_suggestion_admin_filters": ("annotator_suggestion", "suggester_id, category"),
}


def create(apps, schema_editor, statistics=STATISTICS):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, (table, columns) in statistics.items():
        schema_editor.execute(f"CREATE STATISTICS IF NOT EXISTS {name} (mcv, dependencies) ON {columns} FROM {table}")


def drop(apps, schema_editor, statistics=STATISTICS):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in statistics:
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ('annotator', '0023_feedback_covering_index'),
    ]

    operations = [migrations.RunPython(create, drop)]
