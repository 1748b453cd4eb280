"""The /annotate/ page: one server-rendered shell; the queue is driven by static/js/annotate.js."""
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F
from django.http import Http404
from django.shortcuts import render

from annotator.domain.categories import CATEGORY_NAMES, has_va
from annotator.domain.va_regions import regions_for_page
from annotator.guidelines import selectors as guideline_selectors
from annotator.models import Face
from annotator.projects.selectors import projects_of
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
    """Render the annotate page of one of the annotator's projects (?project=slug; their only one goes
    straight in; with several and none chosen, the project picker). 403 for users who may not annotate."""
    if not roles.can_annotate(request.user):
        raise PermissionDenied("Only annotators may annotate.")
    projects = list(projects_of(request.user))
    slug = request.GET.get("project", "")
    if not slug and len(projects) != 1:
        waiting = dict(Face.objects.filter(project__in=projects, answer_count__lt=F("required_annotations"),
                                           is_gold=False).order_by().values("project_id")
                       .annotate(n=Count("id")).values_list("project_id", "n"))
        return render(request, "annotate_projects.html",
                      {"projects": [(p, waiting.get(p.pk, 0)) for p in projects]})
    project = next((p for p in projects if p.slug == slug or not slug), None)
    if project is None:
        raise Http404("No such project of yours.")
    guideline_set = guideline_selectors.guidelines_at(project=project)
    guidelines = {g["category"]: g for g in guideline_selectors.guidelines_for_page(guideline_set)}
    categories = [
        {"id": i, "name": name, "key": CATEGORY_KEYS[i], "has_va": has_va(i), "guideline": guidelines.get(i)}
        for i, name in enumerate(CATEGORY_NAMES)
    ]
    # The banner of static/js/annotate-feedback.js: calibrating, qualified or paused, and the round's score.
    standing = standing_summary(standing_resolve(annotator=request.user, project=project))
    pace = annotator_pace(annotator=request.user)
    config = {
        "project": project.slug,
        "region_check": project.region_check,
        "categories": categories,
        "regions": regions_for_page(),
        "prefetch": PREFETCH,
        "guideline_version": guideline_set.version,
        # Before an annotator's first session: the guidelines overlay, until they dismiss it once.
        "show_guidelines": guideline_set.version is not None and not guideline_selectors.guidelines_read_by(request.user, project),
        "standing": standing,
        # Done today and faces/hour come from the stored answers: they survive a reload.
        "pace": pace,
    }
    rate = faces_per_hour(pace["recent_seconds"])
    return render(request, "annotate.html", {"categories": categories, "config": config, "pace": pace,
                                             "rate": None if rate is None else round(rate), "project": project,
                                             "other_projects": len(projects) > 1})
