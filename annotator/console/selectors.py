"""Reads of the console."""
from annotator.models import ConsoleAction


def console_actions_recent(limit: int = 50):
    """The latest console actions, newest first, with their user and project."""
    return ConsoleAction.objects.select_related("user", "project")[:limit]
