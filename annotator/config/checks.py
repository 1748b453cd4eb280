"""System checks of this project's own settings (`manage.py check --deploy` runs them)."""
from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def secret_key_is_not_the_development_key(app_configs, **kwargs):
    """Fail a deployment check on the public development key (DEBUG on without SECRET_KEY)."""
    if settings.SECRET_KEY == getattr(settings, "DEV_SECRET_KEY", None):
        return [Error(
            "SECRET_KEY is the public development key (DEBUG is on and SECRET_KEY is not set).",
            hint="Set SECRET_KEY to a long random value and DEBUG off.",
            id="annotator.E001",
        )]
    return []
