"""Writes of the console: the record of each console action (the console's history)."""
from annotator.models import ConsoleAction


def console_action_record(user, action: str, summary: str, *, project=None, details=None) -> ConsoleAction:
    """Keep who did what, when, in which project; every console action calls this in the same transaction
    as its change, so the history never names a change that did not happen (or misses one that did)."""
    return ConsoleAction.objects.create(user=user if user and user.is_authenticated else None, project=project,
                                        action=action, summary=summary[:500], details=details or {})
