"""The review pages: the queue (/review/), one face (/review/face/<id>/), the dashboard, and an
annotator's own feedback (/review/me/).

Server-rendered; the item page and the dashboard hand their data to small ES modules in static/js/.
Every page checks login and the reviewer (or admin) role on the server.
"""
from datetime import datetime
from functools import wraps

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseBadRequest, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from annotator.domain.categories import CATEGORY_NAMES, has_va
from annotator.domain.errors import DomainError
from annotator.domain.evaluation_tables import CATEGORICAL_ROWS, DIMENSIONAL_ROWS, interval_text
from annotator.models import Face, Project, Suggester
from annotator.projects.selectors import (
    ProjectNeeded,
    ProjectNotFound,
    faces_of,
    project_for_user,
    project_ids_of,
    projects_of,
)
from annotator.qualification import services as qualification_services
from annotator.web.roles import ANNOTATOR, can_review, is_admin, user_roles
from reviews import selectors, services
from reviews.api import QueueFilterSerializer
from reviews.dashboard import (
    dashboard_cached,
    dashboard_standings,
    feedback_figures_cached,
    projects_overview_cached,
    refresh_asked,
)
from reviews.evidence_text import evidence_text
from reviews.models import Flag


def reviewer_required(view):
    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not can_review(request.user):
            raise PermissionDenied("Only reviewers and admins may see the review pages.")
        return view(request, *args, **kwargs)

    return wrapper


def _project_picked(request, key: str = "project"):
    """Return the reviewer's project named by ?project=slug (None when none is named); 404 for a
    project that is not theirs (another project reads as none)."""
    slug = request.GET.get(key, "")
    if not slug:
        return None
    try:
        return project_for_user(request.user, slug)
    except ProjectNotFound as error:
        raise Http404(error.message) from None


def _filters(request):
    project = _project_picked(request)
    query = {k: v for k, v in request.GET.items() if v != "" and k in QueueFilterSerializer().fields}
    s = QueueFilterSerializer(data=query)
    filters = s.to_filters() if s.is_valid() else selectors.QueueFilters()
    return selectors.QueueFilters(filters.reason, filters.category, filters.annotator_id, filters.suggester_id,
                                  project), s.errors


def face_of_reviewer(user, face_id: int) -> Face:
    """Return the face if it is in one of the user's projects; 404 otherwise (another project's face
    reads as no face)."""
    return get_object_or_404(faces_of(user, Face.objects.only("id", "project_id")), pk=face_id)


@reviewer_required
def queue_page(request):
    filters, errors = _filters(request)
    scope = project_ids_of(request.user)
    projects = list(projects_of(request.user))
    after = request.GET.get("after", "")
    try:
        cursor = selectors.QueueCursor.parse(after) if after else None
    except ValueError:
        return HttpResponseBadRequest(f"after: {after[:100]!r} is not a position in the queue (follow the page's links).",
                                      content_type="text/plain; charset=utf-8")
    page = selectors.review_queue(scope=scope, filters=filters, after=cursor, limit=selectors.QUEUE_PAGE)
    rows = page["rows"]
    details = selectors.review_queue_details([r["face_id"] for r in rows])
    counts = selectors.review_reason_counts(scope=scope, filters=filters)
    annotators = get_user_model().objects.filter(groups__name=ANNOTATOR)
    if scope is not None:  # only the people of the reviewer's projects are named
        annotators = annotators.filter(project_memberships__project_id__in=scope).distinct()
    for detail in details.values():
        names = {a["id"]: a["annotator__username"] for a in detail["answers"]}
        for f in detail["flags"]:
            f["evidence_text"] = evidence_text(f["evidence"] or {}, names)
    context = {
        "faces_left": selectors.review_faces_left(scope=scope, filters=filters),
        "next_cursor": page["next"].text() if page["next"] else "",
        "deeper": cursor is not None,
        "rows": [{**r, **details[r["face_id"]]} for r in rows],
        "reasons": [(value, label, counts[value]) for value, label in Flag.Reason.choices],
        "categories": list(enumerate(CATEGORY_NAMES)),
        "annotators": annotators.order_by("username").values_list("id", "username"),
        "models": Suggester.objects.order_by("name", "version").values_list("id", "name", "version"),
        "projects": projects,
        "several_projects": len(projects) > 1,
        "filters": filters,
        "filter_query": "&".join(f"{k}={v}" for k, v in filters.as_query().items()),
        "errors": errors,
        "waiting": selectors.faces_waiting(scope=scope, project=filters.project),
    }
    return render(request, "review/queue.html", context)


@reviewer_required
def item_page(request, face_id: int):
    face_of_reviewer(request.user, face_id)
    filters, _ = _filters(request)
    item = selectors.face_review_item(face_id=face_id, with_audit=is_admin(request.user))
    item["next_face_id"] = selectors.review_next_face_id(scope=project_ids_of(request.user), filters=filters,
                                                         exclude=[face_id])
    left = selectors.review_faces_left(scope=project_ids_of(request.user), filters=filters)
    item["faces_left"], item["faces_left_capped"] = left.value, left.capped
    context = {
        "item": item,
        "config": {
            "categories": list(CATEGORY_NAMES),
            "categoriesWithVa": [c for c in range(len(CATEGORY_NAMES)) if has_va(c)],
            "filterQuery": "&".join(f"{k}={v}" for k, v in filters.as_query().items()),
            "isAdmin": is_admin(request.user),
        },
        "several_projects": projects_of(request.user)[1:2].exists(),
    }
    return render(request, "review/item.html", context)


def _agreement_rows(data):
    agree, paper = data["agreement"], data["paper_agreement"]
    c = agree["categorical"]
    rows = [
        ("Percent agreement (all answers same)", c["percent_agreement"], paper["categorical"]["percent_agreement"]),
        ("Pairwise agreement", c["pairwise_agreement"], None),
        ("Cohen's kappa (pairs, weighted mean)", c["cohen_kappa_mean"], None),
        (f"Fleiss' kappa ({c['fleiss']['n']} faces)", c["fleiss"]["kappa"], None),
        ("Krippendorff's alpha (nominal)", c["alpha"], None),
    ]
    dims = [(label, agree["valence"][key], paper["valence"].get(key), agree["arousal"][key], paper["arousal"].get(key))
            for label, key in (*DIMENSIONAL_ROWS, ("ALPHA (interval)", "alpha"))]
    return rows, dims


def _evaluation_rows(data):
    """Rows of the model's tables: per measure its value, 95% interval text and the seed's number."""
    ev, base = data["evaluation"], data["seed_baseline"]
    if ev is None:
        return [], []

    def interval(part, key):
        return interval_text(ev["intervals"][part][key])

    cat = [(label, ev["categorical"][key], interval("categorical", key), base["categorical"][key])
           for label, key in CATEGORICAL_ROWS]
    dims = [(label, ev["valence"][key], interval("valence", key), base["valence"][key],
             ev["arousal"][key], interval("arousal", key), base["arousal"][key])
            for label, key in DIMENSIONAL_ROWS]
    return cat, dims


def _at(text):
    return datetime.fromisoformat(text) if text else None


def _intervals_at(evaluation):
    """When the intervals an evaluation shows were computed (None: not yet, or no evaluation)."""
    at = ((evaluation or {}).get("intervals_of") or {}).get("computed_at")
    return datetime.fromisoformat(at) if at else None


@reviewer_required
def dashboard_page(request):
    """One project's dashboard (?project=slug; a reviewer of one project goes straight in); with several
    projects and none chosen, the projects side by side (progress, agreement, throughput) to pick from."""
    projects = list(projects_of(request.user))
    try:
        project = _project_picked(request) or project_for_user(request.user)
    except (ProjectNeeded, ProjectNotFound):  # several to choose from, or none yet (the page says so)
        overview = projects_overview_cached(projects, refresh=refresh_asked(request.GET),
                                            seconds=settings.DASHBOARD_RECOMPUTE_SECONDS)
        return render(request, "review/dashboard_projects.html", {
            "overview": overview, "computed_at": _at(overview["computed_at"]), "projects": projects})
    data = dashboard_cached(project=project, refresh=refresh_asked(request.GET),
                            seconds=settings.DASHBOARD_RECOMPUTE_SECONDS)
    if data["computed_at"] is None:  # a recompute under way and no figures kept yet: the progress only
        return render(request, "review/dashboard.html", {
            "data": data, "standings": dashboard_standings(project=project), "can_reinstate": is_admin(request.user),
            "project": project, "projects": projects})
    agreement_cat, agreement_dims = _agreement_rows(data)
    evaluation_cat, evaluation_dims = _evaluation_rows(data)
    charts = {k: data[k] for k in ("categories", "confusion_annotators", "confusion_model", "va_histogram", "model")}
    context = {"data": data, "charts": charts, "agreement_cat": agreement_cat, "agreement_dims": agreement_dims,
               "evaluation_cat": evaluation_cat, "evaluation_dims": evaluation_dims,
               "computed_at": datetime.fromisoformat(data["computed_at"]),
               "intervals_at": _intervals_at(data["evaluation"]),
               "standings": dashboard_standings(project=project), "can_reinstate": is_admin(request.user),
               "project": project, "projects": projects}
    return render(request, "review/dashboard.html", context)


@login_required
def feedback_page(request):
    """An annotator's feedback: the notes reviewers returned faces with, the decisions that overturned
    their answers, and their numbers. Everyone sees their own; reviewers and admins may open an
    annotator's (?annotator=<user id>), an annotator no one else's. The numbers are kept a minute
    (FEEDBACK_CACHE_SECONDS; ?refresh=1 computes them now), the lists are read on every view."""
    if not user_roles(request.user):
        raise PermissionDenied("Your account has no role yet; ask an admin to give you one.")
    who = request.user
    scope = project_ids_of(request.user)  # only what happened on faces of the viewer's projects (an admin: all)
    asked = request.GET.get("annotator", "")
    if asked and asked != str(request.user.pk):
        if not can_review(request.user):
            raise PermissionDenied("You may see only your own feedback.")
        if not (asked.isdigit() and len(asked) < 19):  # a malformed id is the request's fault, not a refusal
            return HttpResponseBadRequest(f"annotator: {asked!r} is not a user id.",
                                          content_type="text/plain; charset=utf-8")
        people = get_user_model().objects.all()
        if scope is not None:  # a reviewer opens only the people of their projects; others read as none
            people = people.filter(project_memberships__project_id__in=scope).distinct()
        who = get_object_or_404(people, pk=int(asked))
    before = request.GET.get("before", "")
    try:
        cursor = selectors.OverturnedCursor.parse(before) if before else None
    except ValueError:
        return HttpResponseBadRequest(f"before: {before[:100]!r} is not a position among the overturned answers"
                                      " (follow the page's links).", content_type="text/plain; charset=utf-8")
    figures = feedback_figures_cached(annotator=who, scope=scope, refresh=refresh_asked(request.GET))
    lists = selectors.feedback_lists(annotator=who, scope=scope, before=cursor)
    older = lists.pop("overturned_older")
    context = {"who": who, "own": who.pk == request.user.pk, "data": {**figures, **lists},
               "older_page": cursor is not None, "older_cursor": older.text() if older else "",
               "computed_at": _at(figures["computed_at"]),
               "who_query": f"annotator={who.pk}&" if asked else ""}  # links stay on the annotator opened
    return render(request, "review/feedback.html", context)


STANDING_ACTIONS = ("reinstate", "recalibrate")


@login_required
def standing_change(request, user_id: int):
    """The lead's action on an annotator's standing (admins only; POST): reinstate a paused annotator
    into the real queue, or restart anyone's calibration round. Back to the dashboard."""
    if not is_admin(request.user):
        raise PermissionDenied("Only admins (the lead) may reinstate annotators or restart their calibration.")
    if request.method != "POST":  # after the role check: who may not, is refused whatever the method
        return HttpResponseNotAllowed(["POST"])
    annotator = get_object_or_404(get_user_model(), pk=user_id)
    action = request.POST.get("action", "")
    if action not in STANDING_ACTIONS:
        # Plain text: the refused value is echoed, and must not be read as HTML.
        return HttpResponseBadRequest(f"action: {action!r} is not one of {', '.join(STANDING_ACTIONS)}",
                                      content_type="text/plain; charset=utf-8")
    try:
        project = project_for_user(request.user, request.POST.get("project"))
    except (ProjectNotFound, ProjectNeeded) as error:
        return HttpResponseBadRequest(f"project: {error.message}", content_type="text/plain; charset=utf-8")
    try:
        standing = qualification_services.standing_reinstate(
            annotator=annotator, project=project, by=request.user, recalibrate=action == "recalibrate")
    except qualification_services.StandingError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{annotator.username}: {standing.state} ({standing.reason}).")
    several = projects_of(request.user)[1:2].exists()  # back to the project's dashboard, as before with one
    return redirect(reverse("review-dashboard") + (f"?project={project.slug}" if several else ""))


class SpotCheckForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.order_by("id"), to_field_name="slug", empty_label=None)
    share = forms.FloatField(label="Share %", required=False, min_value=0.001, max_value=100,
                             widget=forms.NumberInput(attrs={"placeholder": "e.g. 5"}),
                             help_text="of the project's agreed faces not in review (or give a count)")
    count = forms.IntegerField(label="Or a count", required=False, min_value=1, max_value=10**7)
    seed = forms.IntegerField(label="Seed", min_value=0, max_value=2**32 - 1, initial=0,
                              help_text="The same seed and the same faces draw the same sample.")

    def clean(self):
        data = super().clean()
        if data.get("share") is None and data.get("count") is None and not self.errors:
            self.add_error("share", "give a share or a count of faces")
        elif data.get("share") is not None and data.get("count") is not None:
            self.add_error("count", "give a share or a count, not both")
        return data

    def plan(self) -> selectors.SpotCheckPlan:
        data = self.cleaned_data
        share = data["share"] / 100 if data.get("share") is not None else None
        return selectors.spot_check_plan(data["project"], share=share, count=data.get("count"), seed=data["seed"])


@login_required
def spot_checks_page(request):
    """Spot checks (admins only): GET the form; POST action=preview: how many agreed faces there are and
    how many would be drawn (nothing changes); POST action=apply: the sample flagged into the review queue."""
    if not is_admin(request.user):
        raise PermissionDenied("Only admins may put faces up for spot checks.")
    if request.method != "POST":
        project = Project.objects.filter(slug=request.GET.get("project", "")).first()
        form = SpotCheckForm(initial={"project": project.slug} if project else None)
        return render(request, "review/spot_checks.html", {"form": form})
    form = SpotCheckForm(request.POST)
    if not form.is_valid():
        return render(request, "review/spot_checks.html", {"form": form}, status=400)
    try:
        plan = form.plan()
        if request.POST.get("action") == "apply":
            flags = services.spot_checks_add(plan, user=request.user)
            project = form.cleaned_data["project"]
            messages.success(request, f"{len(flags)} face{'s' if len(flags) != 1 else ''} of {project.name} put "
                                      "into the review queue for a spot check.")
            return redirect(reverse("review-spot-checks") + f"?project={project.slug}")
    except DomainError as error:
        form.add_error(None, f"{error.field}: {error.message}" if error.field else error.message)
        return render(request, "review/spot_checks.html", {"form": form}, status=400)
    return render(request, "review/spot_checks.html", {"form": form, "plan": plan})
