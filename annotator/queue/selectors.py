"""Reads for the annotate page: the annotator's own pace."""
from datetime import timedelta

from django.utils import timezone

from annotator.models import Annotation

# faces/hour is measured over the annotator's last PACE_ANSWERS answers of the last PACE_HOURS hours,
# from the seconds each face was on screen (as the dashboard's faces/hour); with fewer than
# PACE_MIN_ANSWERS it is not shown (one quick face is no pace).
PACE_ANSWERS = 50
PACE_HOURS = 8
PACE_MIN_ANSWERS = 5


def annotator_pace(*, annotator, now=None) -> dict:
    """Return the annotator's answers today and the seconds spent on their recent answers (oldest first)."""
    now = now or timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    mine = Annotation.objects.filter(annotator=annotator, imported=False)
    recent = list(mine.filter(created_at__gte=now - timedelta(hours=PACE_HOURS))
                  .order_by("-created_at", "-id").values_list("seconds_spent", flat=True)[:PACE_ANSWERS])
    return {
        "done_today": mine.filter(created_at__gte=today).count(),
        "recent_seconds": [round(s, 2) for s in reversed(recent)],
        "window": PACE_ANSWERS,
        "min_answers": PACE_MIN_ANSWERS,
    }


def faces_per_hour(recent_seconds) -> float | None:
    """Return faces per hour of work over these answers' seconds, or None with too few answers."""
    seconds = sum(recent_seconds)
    if len(recent_seconds) < PACE_MIN_ANSWERS or seconds <= 0:
        return None
    return 3600 * len(recent_seconds) / seconds
