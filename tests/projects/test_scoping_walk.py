"""Every URL of the app, walked with two projects: nothing of project B is visible or changeable to the
users of project A only.

The table SCOPING says, for every named URL pattern (the Django admin's and the static files' aside),
how a user of project A only could reach project B: with B's ids in the path, the query or the body
("hidden": refused or 404, and none of B's rows changed), or through a list ("clean": none of B's
ids or names in the answer, and none of B's rows changed). The walk reads the URLconf itself, so a
URL added without an entry here fails the test: no endpoint escapes it.

Each probe also runs, after all the refusals, as a user who may see B (B's member, or an admin: the
admin role is instance-wide, projects.selectors.project_ids_of), and must get through there: so a
404 above means "not yours", not "no such thing".
"""
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Optional

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.urls import URLResolver, get_resolver

from annotator.faces.store import NewFace, faces_store
from annotator.guidelines.services import guideline_save
from annotator.models import (
    Annotation,
    AnnotatorStanding,
    Claim,
    Face,
    Project,
    ReviewerRequest,
    Suggester,
    Suggestion,
)
from annotator.projects.services import project_create
from reviews.models import Flag
from reviews.services import gold_mark
from tests.affectnet_helpers import jpeg
from tests.conftest import make_user
from tests.project_helpers import activate

# B's rows carry ids and names that appear nowhere else, so a list that shows any of B is caught.
B_FACE, B_GOLD, B_WAITING, B_ANSWER = 900001, 900002, 900003, 800001
B_MARKERS = ("bravo", str(B_FACE), str(B_GOLD), str(B_WAITING), str(B_ANSWER))
B_GUIDELINE = "BRAVO-RULE: the corners of the mouth are up."


@dataclass
class Probe:
    """One request a project-A user could make to reach project B.

    kind "hidden": it names B's object: refused (403) or not found (404), nothing of B changes.
    kind "clean": a list or a page: whatever the status, no B id or name in it, nothing of B changes.
    control: who may see B ("ann_b", "rev_b" or "admin_a") and must get through (not 403/404);
    shows_b: the control's answer names something of B (a list that would show B's rows if unscoped).
    """

    method: str
    path: str
    kind: str
    body: dict = field(default_factory=dict)
    control: Optional[str] = None
    shows_b: bool = False


def body_claim():
    return {"face": B_WAITING, "category": 1, "valence": 0.5, "arousal": 0.2, "client_key": str(uuid.uuid4())}


# Every named URL pattern: how a user of A alone could reach B there. {user_b}: B's annotator's id.
SCOPING = {
    "home": [Probe("get", "/", "clean")],
    "face-image": [Probe("get", f"/api/faces/{B_FACE}/image/", "hidden", control="ann_b")],
    "photo-upload": [Probe("get", "/photos/upload/", "clean")],  # admins only; no project's rows
    # The console's jobs: admins only (instance-wide, as the lead), so A's other users are refused each.
    "jobs": [Probe("get", "/console/jobs/", "clean")],
    "jobs-status": [Probe("get", "/console/jobs/status/?ids=1,2,3", "clean")],
    "job-import": [Probe("get", "/console/jobs/import/", "clean"),
                   Probe("post", "/console/jobs/import/", "clean", {"kind": "affectnet_import", "project": "bravo",
                                                                   "root": 0, "folder": ""})],
    "job-export": [Probe("get", "/console/jobs/export/", "clean"),
                   Probe("post", "/console/jobs/export/", "clean", {"project": "bravo", "root": 0, "out": "x"})],
    "job": [Probe("get", "/console/jobs/1/", "clean")],
    "job-status": [Probe("get", "/console/jobs/1/status/", "clean")],
    "job-cancel": [Probe("post", "/console/jobs/1/cancel/", "clean")],
    "job-download": [Probe("get", "/console/jobs/1/download/", "clean")],
    "folders": [Probe("get", "/console/folders/?root=0&path=", "clean")],
    "annotate": [Probe("get", "/annotate/?project=bravo", "hidden", control="ann_b"),
                 Probe("get", "/annotate/", "clean", control="ann_b", shows_b=True)],
    "queue-next": [Probe("post", "/api/queue/next/", "hidden", {"project": "bravo"}, control="ann_b"),
                   Probe("post", "/api/queue/next/", "clean", {"count": 10})],
    "queue-release": [Probe("post", "/api/queue/release/", "hidden", {"face": B_WAITING}, control="ann_b")],
    "annotation-submit": [Probe("post", "/api/annotations/", "hidden", "claim", control="ann_b")],
    "annotation-mine": [Probe("get", "/api/annotations/mine/", "clean", control="ann_b", shows_b=True)],
    "annotation-change": [Probe("patch", f"/api/annotations/{B_ANSWER}/", "hidden",
                                {"category": 2, "valence": -0.5, "arousal": -0.2}, control="ann_b")],
    "guidelines": [Probe("get", "/api/guidelines/?project=bravo", "hidden", control="ann_b"),
                   Probe("get", "/api/guidelines/", "clean", control="ann_b", shows_b=True)],
    "guidelines-read": [Probe("post", "/api/guidelines/read/", "hidden", {"version": 1, "project": "bravo"},
                              control="ann_b")],
    "review-queue": [Probe("get", "/review/?project=bravo", "hidden", control="rev_b"),
                     Probe("get", "/review/", "clean", control="rev_b", shows_b=True)],
    "review-item": [Probe("get", f"/review/face/{B_FACE}/", "hidden", control="rev_b")],
    "review-dashboard": [Probe("get", "/review/dashboard/?project=bravo", "hidden", control="rev_b"),
                         Probe("get", "/review/dashboard/", "clean", control="rev_b", shows_b=True)],
    "review-feedback": [Probe("get", "/review/me/?annotator={user_b}", "hidden", control="rev_b"),
                        Probe("get", "/review/me/", "clean")],
    "review-standing-change": [Probe("post", "/review/annotators/{user_b}/standing/", "hidden",
                                     {"action": "reinstate", "project": "bravo"}, control="admin_a")],
    "review-api-queue": [Probe("get", "/api/review/queue/?project=bravo", "hidden", control="rev_b"),
                         Probe("get", "/api/review/queue/", "clean", control="rev_b", shows_b=True)],
    "review-api-item": [Probe("get", f"/api/review/faces/{B_FACE}/", "hidden", control="rev_b")],
    "review-api-history": [Probe("get", f"/api/review/faces/{B_FACE}/history/", "hidden", control="admin_a")],
    "review-api-return": [Probe("post", f"/api/review/faces/{B_FACE}/return/", "hidden",
                                {"annotation_id": B_ANSWER, "note": "Look again."}, control="rev_b")],
    "review-api-one-more": [Probe("post", f"/api/review/faces/{B_FACE}/one-more/", "hidden", control="rev_b")],
    "review-api-decision": [Probe("post", f"/api/review/faces/{B_FACE}/decision/", "hidden",
                                  {"category": 1, "valence": 0.5, "arousal": 0.2}, control="rev_b")],
    "review-api-gold": [Probe("post", "/api/review/gold/", "hidden",
                              {"face_id": B_FACE, "category": 1, "valence": 0.5, "arousal": 0.2}, control="admin_a")],
    "review-api-gold-delete": [Probe("delete", f"/api/review/gold/{B_GOLD}/", "hidden", control="admin_a")],
    "review-api-agreement": [Probe("get", "/api/review/agreement/?project=bravo", "hidden", control="rev_b"),
                             Probe("get", "/api/review/agreement/", "clean", control="rev_b", shows_b=True)],
    "review-api-evaluation": [Probe("get", "/api/review/evaluation/?project=bravo", "hidden", control="rev_b"),
                              Probe("get", "/api/review/evaluation/", "clean")],
    "review-api-dashboard": [Probe("get", "/api/review/dashboard/?project=bravo", "hidden", control="rev_b"),
                             Probe("get", "/api/review/dashboard/", "clean", control="rev_b", shows_b=True)],
    # Admins only (the admin role is instance-wide): A's users are refused whatever they name; a preview
    # of B's faces writes nothing.
    "console-splits": [Probe("get", "/console/splits/?project=bravo", "hidden", control="admin_a"),
                       Probe("post", "/console/splits/", "hidden",
                             {"project": "bravo", "train": "90", "val": "10", "faces": "all", "seed": "0",
                              "action": "preview"}, control="admin_a")],
    "review-spot-checks": [Probe("get", "/review/spot-checks/?project=bravo", "hidden", control="admin_a"),
                           Probe("post", "/review/spot-checks/", "hidden",
                                 {"project": "bravo", "share": "50", "seed": "0", "action": "preview"},
                                 control="admin_a")],
    "review-api-projects": [Probe("get", "/api/review/projects/", "clean", control="rev_b", shows_b=True)],
}
# No project's rows behind them at all.
NO_PROJECT_DATA = {"login", "logout", "schema", "api-docs"}
A_ONLY = ("ann_a", "rev_a", "both_a")


def url_names(resolvers=None, prefix=""):
    """Yield (route, name) of every URL pattern but the Django admin's and the static files'."""
    for p in get_resolver().url_patterns if resolvers is None else resolvers:
        route = prefix + str(p.pattern)
        if route.startswith(("admin/", "static/", "^static", "media/")):
            continue
        if isinstance(p, URLResolver):
            yield from url_names(p.url_patterns, route)
        else:
            yield route, p.name


def test_every_url_pattern_has_an_entry():
    """A URL added without saying how it is scoped fails here (and one removed must leave the table)."""
    names = {name for _, name in url_names()}
    unnamed = [route for route, name in url_names() if not name]
    assert not unnamed, f"URL patterns without a name (the table keys by name): {unnamed}"
    missing = names - set(SCOPING) - NO_PROJECT_DATA
    assert not missing, f"no entry in SCOPING for {sorted(missing)}: say how a project-A user could reach B there"
    stale = (set(SCOPING) | NO_PROJECT_DATA) - names
    assert not stale, f"SCOPING names URLs that no longer exist: {sorted(stale)}"


def b_snapshot(b: Project) -> str:
    """A digest of every row of project B that a request could change (its faces and all hanging on them,
    its guidelines, standings, members and the project itself)."""
    digest = hashlib.sha256()
    face_ids = list(Face.objects.filter(project=b).values_list("id", flat=True))
    marks = ",".join(str(i) for i in face_ids)
    queries = [
        f"SELECT * FROM annotator_face WHERE id IN ({marks}) ORDER BY 1",
        *(f"SELECT * FROM {t} WHERE face_id IN ({marks}) ORDER BY 1" for t in (  # noqa: S608
            "annotator_annotation", "annotator_claim", "annotator_suggestion", "annotator_reviewerrequest",
            "annotator_goldreference", "reviews_flag", "reviews_decision", "reviews_golditem")),
        *(f"SELECT * FROM {t} WHERE project_id = {b.pk} ORDER BY 1" for t in (  # noqa: S608
            "annotator_guideline", "annotator_guidelinereading", "annotator_annotatorstanding",
            "annotator_projectmembership")),
        f"SELECT * FROM annotator_project WHERE id = {b.pk}",  # noqa: S608
    ]
    with connection.cursor() as cursor:
        for sql in queries:
            cursor.execute(sql)
            digest.update(repr(cursor.fetchall()).encode())
    return digest.hexdigest()


@pytest.fixture
def two_projects(data_root):
    """Projects A and B, each with faces answered, flagged, suggested, gold, claimed and waiting for an
    answer, a guideline and a standing; users of each role in A only, and B's annotator and reviewer."""
    a = project_create(slug="alpha", name="Alpha study")
    b = project_create(slug="bravo", name="Bravo study")
    people = {
        "ann_a": make_user("ann-a", "annotator", projects=[a]),
        "rev_a": make_user("rev-a", "reviewer", projects=[a]),
        "both_a": make_user("both-a", "annotator", "reviewer", projects=[a]),
        "admin_a": make_user("admin-a", "admin", projects=[a]),
        "ann_b": make_user("bravo-ann", "annotator", projects=[b]),
        "ann_b2": make_user("bravo-ann2", "annotator", projects=[b]),
        "rev_b": make_user("bravo-rev", "reviewer", projects=[b]),
    }
    User.objects.filter(username="admin-a").update(is_staff=True)
    model = Suggester.objects.create(name="shared-model", version="1")  # the model files may be shared
    for project, ids, who, seed in ((a, (None, None, None), ("ann_a", "both_a"), 1),
                                    (b, (B_FACE, B_GOLD, B_WAITING), ("ann_b", "ann_b2"), 11)):
        activate(model, project)
        answered, gold, waiting = faces_store(
            [NewFace(jpeg(seed + i), id=ids[i], split="val", required_annotations=2) for i in range(3)],
            project=project)
        first = Annotation.objects.create(pk=B_ANSWER if project == b else None, face=answered,
                                          annotator=people[who[0]], category=1, valence=0.5, arousal=0.2)
        Annotation.objects.create(face=answered, annotator=people[who[1]], category=2, valence=-0.5, arousal=-0.2)
        Face.objects.filter(pk=answered.pk).update(answer_count=2)
        assert first.pk
        Suggestion.objects.create(face=answered, suggester=model, probabilities=[0.0] * 10 + [1.0], category=10,
                                  confidence=1.0)
        Flag.objects.create(face=answered, reason=Flag.Reason.ANNOTATOR_VS_ANNOTATOR, key="k", severity=1.0)
        gold_mark(face=gold, category=1, valence=0.5, arousal=0.2, by=None)
        Claim.objects.create(face=waiting, annotator=people[who[0]], expires_at="2999-01-01T00:00:00Z")
        ReviewerRequest.objects.create(face=waiting, kind=ReviewerRequest.Kind.ONE_MORE,
                                       requested_by=people["rev_b" if project == b else "rev_a"])
        guideline_save(category=1, definition=B_GUIDELINE if project == b else "Alpha: a smile.", project=project)
        AnnotatorStanding.objects.create(user=people[who[0]], project=project, state=AnnotatorStanding.State.PAUSED,
                                         round_started_at="2026-01-01T00:00:00Z",
                                         changed_at="2026-01-01T00:00:00Z")
    assert set(Face.objects.filter(project=b).values_list("id", flat=True)) == {B_FACE, B_GOLD, B_WAITING}
    return {"a": a, "b": b, "people": people}


def send(user, probe: Probe, people):
    client = Client()
    client.force_login(user)
    path = probe.path.format(user_b=people["ann_b"].pk)
    body = body_claim() if probe.body == "claim" else probe.body
    if probe.method == "get":
        return client.get(path)
    if probe.method == "delete":
        return client.delete(path)
    if path.startswith("/api/"):
        return getattr(client, probe.method)(path, body, content_type="application/json")
    return getattr(client, probe.method)(path, body)


def b_shown(response) -> list:
    text = response.content.decode(errors="replace").lower()
    return [marker for marker in B_MARKERS if marker in text]


@pytest.mark.django_db
def test_nothing_of_project_b_is_visible_or_changeable_to_project_a_users(two_projects):
    people, b = two_projects["people"], two_projects["b"]
    problems = []
    for _route, name in url_names():
        if name in NO_PROJECT_DATA:
            continue
        for probe in SCOPING.get(name, ()):  # a URL missing from the table fails the test above
            for who in A_ONLY:
                before = b_snapshot(b)
                response = send(people[who], probe, people)
                status, where = response.status_code, f"{probe.method.upper()} {probe.path} as {who}"
                if status >= 500:
                    problems.append(f"{where}: {status}")
                elif probe.kind == "hidden" and status not in (403, 404):
                    problems.append(f"{where}: {status}, not refused nor 404")
                elif probe.kind == "clean" and b_shown(response):
                    problems.append(f"{where}: shows {b_shown(response)} of project B")
                if b_snapshot(b) != before:
                    problems.append(f"{where}: changed project B's rows")
    assert not problems, "\n".join(problems)
    # The same requests as someone who may see B get through: the refusals above were the scoping.
    for probes in SCOPING.values():
        for probe in probes:
            if probe.control is None:
                continue
            response = send(people[probe.control], probe, people)
            where = f"{probe.method.upper()} {probe.path} as {probe.control}"
            if response.status_code in (403, 404) or response.status_code >= 500:
                problems.append(f"{where}: {response.status_code}; the control should get through")
            elif probe.shows_b and not b_shown(response):
                problems.append(f"{where}: shows nothing of B, so the A users' check above proves nothing")
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
def test_an_admin_of_project_a_sees_project_b_too(two_projects):
    """The admin role is instance-wide (the lead): an admin member of A only still reviews B's faces."""
    client = Client()
    client.force_login(two_projects["people"]["admin_a"])
    assert client.get(f"/api/review/faces/{B_FACE}/").status_code == 200
    assert client.get("/review/dashboard/?project=bravo").status_code == 200
