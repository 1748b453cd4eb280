from django.conf import settings
from django.db import migrations


# The policy fields and the settings a new project takes them from (kept in step with
# annotator.models.POLICY_SETTINGS; a migration must not import app code that may change).
POLICY_SETTINGS = {
    "annotators_per_face": ("ANNOTATORS_PER_FACE", 1),
    "overlap_share": ("OVERLAP_SHARE", 0.10),
    "blind_share": ("BLIND_SHARE", 0.20),
    "gold_share": ("GOLD_SHARE", 0.05),
    "queue_order": ("QUEUE_ORDER", "rare_first"),
    "calibration_faces": ("CALIBRATION_FACES", 10),
    "calibration_min_accuracy": ("CALIBRATION_MIN_ACCURACY", 0.7),
    "calibration_max_va_distance": ("CALIBRATION_MAX_VA_DISTANCE", 0.4),
    "calibration_without_gold": ("CALIBRATION_WITHOUT_GOLD", "wait"),
    "gold_feedback": ("GOLD_FEEDBACK", False),
    "gold_rolling_answers": ("GOLD_ROLLING_ANSWERS", 20),
    "gold_pause_min_answers": ("GOLD_PAUSE_MIN_ANSWERS", 10),
    "gold_pause_below": ("GOLD_PAUSE_BELOW", 0.5),
    "region_check": ("REGION_CHECK", True),
    "export_categories": ("EXPORT_CATEGORIES", "0-10"),
}


def into_default_project(apps, schema_editor):
    """Everything that exists goes into one project, "default", with today's settings; its members are
    every user with a role, and its active suggester is the one that was active."""
    from django.conf import settings as live

    Project = apps.get_model("annotator", "Project")
    Suggester = apps.get_model("annotator", "Suggester")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    policy = {field: getattr(live, name, fallback) for field, (name, fallback) in POLICY_SETTINGS.items()}
    project = Project.objects.create(
        slug="default", name="Default project", active_suggester=Suggester.objects.filter(is_active=True).first(),
        description="The first project: every face is here until another project is made.", **policy,
    )
    Membership = apps.get_model("annotator", "ProjectMembership")
    members = User.objects.filter(groups__name__in=["annotator", "reviewer", "admin"]).distinct()
    Membership.objects.bulk_create([Membership(project=project, user=u) for u in members])
    for model in ("Face", "Guideline", "GuidelineReading", "AnnotatorStanding", "HistoricalAnnotatorStanding"):
        apps.get_model("annotator", model).objects.update(project=project)


def out_of_projects(apps, schema_editor):
    apps.get_model("annotator", "Suggester").objects.filter(
        pk__in=apps.get_model("annotator", "Project").objects.filter(slug="default").values("active_suggester")
    ).update(is_active=True)


class Migration(migrations.Migration):
    """Data only (PostgreSQL refuses to alter a table with pending updates in the same transaction)."""

    dependencies = [
        ('annotator', '0013_projects'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('auth', '0012_alter_user_first_name_max_length'),
    ]

    operations = [
        migrations.RunPython(into_default_project, out_of_projects),
    ]
