"""The /annotate/ page: one server-rendered shell; the queue is driven by static/js/annotate.js."""
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from annotator.domain.categories import CATEGORY_NAMES, has_va
from annotator.domain.va_regions import regions_for_page
from annotator.guidelines import selectors as guideline_selectors
from annotator.qualification.selectors import standing_summary
from annotator.qualification.services import standing_resolve
from annotator.queue.selectors import annotator_pace, faces_per_hour
from annotator.web import roles

# One key per category, printed on its button: digits for 0-9, X for No-Face.
CATEGORY_KEYS = tuple(str(i) for i in range(10)) + ("x",)
# How many faces the page holds ahead of the one shown (claims and decoded images).
PREFETCH = 4


@login_required
def annotate(request):
    """Render the annotate page for annotators (and admins); 403 for everyone else."""
    if not roles.can_annotate(request.user):
        raise PermissionDenied("Only annotators may annotate.")
    guideline_set = guideline_selectors.guidelines_at()
    guidelines = {g["category"]: g for g in guideline_selectors.guidelines_for_page(guideline_set)}
    categories = [
        {"id": i, "name": name, "key": CATEGORY_KEYS[i], "has_va": has_va(i), "guideline": guidelines.get(i)}
        for i, name in enumerate(CATEGORY_NAMES)
    ]
    # The banner of static/js/annotate-feedback.js: calibrating, qualified or paused, and the round's score.
    standing = standing_summary(standing_resolve(annotator=request.user))
    pace = annotator_pace(annotator=request.user)
    config = {
        "categories": categories,
        "regions": regions_for_page(),
        "prefetch": PREFETCH,
        "guideline_version": guideline_set.version,
        # Before an annotator's first session: the guidelines overlay, until they dismiss it once.
        "show_guidelines": guideline_set.version is not None and not guideline_selectors.guidelines_read_by(request.user),
        "standing": standing,
        # Done today and faces/hour come from the stored answers: they survive a reload.
        "pace": pace,
    }
    rate = faces_per_hour(pace["recent_seconds"])
    return render(request, "annotate.html", {"categories": categories, "config": config, "pace": pace,
                                             "rate": None if rate is None else round(rate)})
