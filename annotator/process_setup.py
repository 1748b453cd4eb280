"""Start-up of worker processes that need Django (kept free of model imports so it can run first)."""

import django
from django.conf import settings


def django_process_setup(overrides: dict) -> None:
    """Set Django up in a fresh worker process, with the parent's values for the named settings.

    A forkserver child reads its settings from the environment; settings the parent changed at run
    time (tests point MEDIA_ROOT at a temporary folder) must follow it, or its files land elsewhere.
    """
    django.setup()
    for name, value in overrides.items():
        setattr(settings, name, value)
