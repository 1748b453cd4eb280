"""PostgreSQL's statistics on how the columns that the admin's flag and decision lists filter on go
together, for its estimate of a filtered list's rows (see annotator's 0024_admin_filter_statistics)."""
from functools import partial
from importlib import import_module

from django.db import migrations

faces_migration = import_module("annotator.migrations.0024_admin_filter_statistics")

STATISTICS = {
    "reviews_flag_admin_filters": ("reviews_flag", "reason, status"),
    "reviews_decision_admin_filters": ("reviews_decision", "source, category, reviewer_id"),
}


class Migration(migrations.Migration):
    dependencies = [
        ('reviews', '0009_flag_pending'),
        ('annotator', '0024_admin_filter_statistics'),
    ]

    operations = [migrations.RunPython(partial(faces_migration.create, statistics=STATISTICS),
                                       partial(faces_migration.drop, statistics=STATISTICS))]
