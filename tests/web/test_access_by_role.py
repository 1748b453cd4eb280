"""Every URL of the project, for every role: the server lets in exactly who may, and a refused request
changes nothing. The walk reads the URLconf itself, so a URL added without an entry in ACCESS fails."""
import hashlib
import re

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client
from django.urls import URLResolver, get_resolver
from rest_framework.authtoken.models import Token

from annotator.console.services import console_action_record
from annotator.faces.store import NewFace, faces_store
from annotator.guidelines.services import guideline_save
from annotator.models import Annotation, AnnotatorStanding, Claim, Face, Job, Photo, Project, Suggester, Suggestion
from annotator.projects.services import project_policy_update
from reviews.models import Decision, Flag, GoldItem
from tests.affectnet_helpers import jpeg
from tests.conftest import make_user
from tests.project_helpers import activate

ROLES = ("anonymous", "no role", "annotator", "reviewer", "admin")
ANY_ROLE = {"annotator", "reviewer", "admin"}
ANNOTATE = {"annotator", "admin"}
REVIEW = {"reviewer", "admin"}
ADMIN = {"admin"}
EVERYONE = set(ROLES)

# Who may use each URL (by its name; the Django admin's own URLs by prefix, below).
ACCESS = {
    "login": EVERYONE,
    "logout": EVERYONE,
    "home": ANY_ROLE,
    "face-image": ANY_ROLE,
    "schema": ANY_ROLE,
    "api-docs": ANY_ROLE,
    "photo-upload": ADMIN,
    "annotate": ANNOTATE,
    "queue-next": ANNOTATE,
    "queue-release": ANNOTATE,
    "annotation-submit": ANNOTATE,
    "annotation-mine": ANNOTATE,
    "annotation-change": ANNOTATE,
    "guidelines": ANY_ROLE,
    "guidelines-read": ANNOTATE,
    "review-queue": REVIEW,
    "review-item": REVIEW,
    "review-dashboard": REVIEW,
    "review-standing-change": ADMIN,
    "review-api-queue": REVIEW,
    "review-api-item": REVIEW,
    "review-api-decision": REVIEW,
    "review-api-return": REVIEW,
    "review-api-one-more": REVIEW,
    "review-feedback": ANY_ROLE,  # everyone's own feedback page
    "review-api-agreement": REVIEW,
    "review-api-evaluation": REVIEW,
    "review-api-dashboard": REVIEW,
    "review-api-projects": REVIEW,
    "review-api-history": ADMIN,
    "review-api-gold": ADMIN,
    "review-api-gold-delete": ADMIN,
    # The lead's console: admins only, every page, endpoint and action.
    "console:home": ADMIN,
    "console:jobs": ADMIN,
    "console:jobs-status": ADMIN,
    "console:job-import": ADMIN,
    "console:job-export": ADMIN,
    "console:job": ADMIN,
    "console:job-status": ADMIN,
    "console:job-cancel": ADMIN,
    "console:job-download": ADMIN,
    "console:folders": ADMIN,
    "console-splits": ADMIN,
    "review-spot-checks": ADMIN,
}
ADMIN_SITE_PUBLIC = {"admin/login/", "admin/logout/"}  # the admin's sign-in and sign-out pages
# Refused to everyone: photos are recorded by import_images only, sign-in records by django-axes only;
# no admin form uses autocomplete.
ADMIN_SITE_NOBODY = {"admin/annotator/photo/add/", "admin/annotator/annotatorstanding/add/",
                     "admin/annotator/consoleaction/add/",
                     "admin/axes/accessattempt/add/", "admin/axes/accesslog/add/",
                     "admin/axes/accessfailurelog/add/", "admin/autocomplete/"}
# Guideline versions are never deleted: answers record the version they were given under. The console's
# history is read-only in the admin: nobody adds or deletes a record, and its change page only shows one.
ADMIN_SITE_NOBODY_PATTERN = re.compile(r"admin/annotator/(guideline/\d+/delete|consoleaction/(add|\d+/delete))/\Z")
ADMIN_SITE_READ_ONLY_PATTERN = re.compile(r"admin/annotator/consoleaction/\d+/change/\Z")
TABLES = ["annotator_face", "annotator_annotation", "annotator_claim", "annotator_suggestion", "annotator_suggester",
          "annotator_photo", "annotator_guideline", "annotator_guidelinereading", "annotator_annotatorstanding",
          "reviews_flag", "reviews_decision", "reviews_golditem", "annotator_reviewerrequest", "auth_user", "auth_group",
          "authtoken_token", "axes_accessattempt", "annotator_job", "annotator_consoleaction"]


def patterns(resolvers=None, prefix="", namespace=""):
    """Yield (route, name) of every URL pattern, the admin's included; a name in a namespace (the
    console's) as "console:home"."""
    for p in get_resolver().url_patterns if resolvers is None else resolvers:
        if isinstance(p, URLResolver):
            inner = f"{p.namespace}:" if p.namespace and p.namespace != "admin" else namespace
            yield from patterns(p.url_patterns, prefix + str(p.pattern), inner)
        else:
            yield prefix + str(p.pattern), (namespace + p.name if p.name else p.name)


@pytest.fixture
def world(data_root):
    """One object of every kind, so every URL with an id has something to point at."""
    people = {
        "no role": make_user("plain"),
        "annotator": make_user("ann", "annotator"),
        "reviewer": make_user("rev", "reviewer"),
        "admin": make_user("lead", "admin"),
    }
    User.objects.filter(username="lead").update(is_staff=True, is_superuser=True)
    people["admin"].refresh_from_db()
    face, other = faces_store([NewFace(jpeg(1), split="val"), NewFace(jpeg(2), split="val")])
    model = activate(Suggester.objects.create(name="m", version="1"))
    suggestion = Suggestion.objects.create(face=face, suggester=model, probabilities=[0.0] * 10 + [1.0], category=10,
                                           confidence=1.0)
    answer = Annotation.objects.create(face=face, annotator=people["annotator"], category=1, valence=0.5, arousal=0.2)
    Claim.objects.create(face=other, annotator=people["annotator"], expires_at="2999-01-01T00:00:00Z")
    Photo.objects.create(sha256="0" * 64, source="p.jpg", width=1, height=1, face_count=1, detector="haar")
    console_action_record(people["admin"], "splits.assign", "Assigned splits")
    Flag.objects.create(face=face, reason=Flag.Reason.ANNOTATOR_VS_MODEL, key="k")
    decision = Decision.objects.create(face=face, reviewer=people["reviewer"], category=1, valence=0.5, arousal=0.2)
    GoldItem.objects.create(face=other, category=1, valence=0.5, arousal=0.2)
    Token.objects.create(user=people["annotator"])
    guideline_save(category=0, definition="The face at rest.")
    AnnotatorStanding.objects.create(user=people["annotator"], project=Project.objects.default(),
                                     state=AnnotatorStanding.State.PAUSED,
                                     round_started_at="2026-01-01T00:00:00Z", changed_at="2026-01-01T00:00:00Z")
    project_policy_update(project=Project.objects.default(), blind_share=0.25)  # a policy change: its history page
    # The sign-in records of django-axes (admin pages too): one failed and one good sign-in.
    AccessAttempt.objects.create(username="plain", ip_address="192.0.2.1", failures_since_start=1)
    AccessLog.objects.create(username="ann", ip_address="192.0.2.2")
    AccessFailureLog.objects.create(username="plain", ip_address="192.0.2.1")
    console_action_record(people["admin"], "job.cancel", "cancelled a job")  # the console's history (admin pages)
    job = Job.objects.create(kind=Job.Kind.EXPORT_AFFECTNET, options={})
    return {"people": people, "face": face, "answer": answer, "suggestion": suggestion, "decision": decision,
            "job": job}


def concrete(route, name, world):
    """Return a path for a pattern, its parameters filled with objects that exist."""
    face, answer = world["face"], world["answer"]
    path = route.replace("<id:face_id>", str(face.pk)).replace("<id:annotation_id>", str(answer.pk))
    match = re.match(r"admin/(\w+)/(\w+)/", path)
    if "<path:object_id>" in path and match and "content_type_id" not in path:
        model = apps.get_model(match.group(1), match.group(2))
        path = path.replace("<path:object_id>", str(model._default_manager.first().pk))
    history = re.match(r"admin/(\w+)/(\w+)/\^\(\[\^/\]\+\)/history/\(\[\^/\]\+\)/\$$", path)
    if history:  # simple_history's page of one recorded version
        model = apps.get_model(history.group(1), history.group(2))
        record = model.history.first()
        path = f"admin/{history.group(1)}/{history.group(2)}/{record.instance.pk}/history/{record.history_id}/"
    path = path.replace("<path:content_type_id>/<path:object_id>",
                        f"{ContentType.objects.get_for_model(Face).pk}/{face.pk}")
    path = path.replace("auth/user/<id>/", f"auth/user/{world['people']['annotator'].pk}/")
    path = path.replace("<id:user_id>", str(world["people"]["annotator"].pk))
    path = path.replace("<id:job_id>", str(world["job"].pk))
    if name == "app_list":
        path = "admin/annotator/"
    if path == "admin/(?P<url>.*)$":
        path = "admin/no-such-page/"
    assert "<" not in path and "^" not in path, f"no value for a parameter of {route}"
    return "/" + path


def allowed_roles(path, name):
    if path.startswith("/admin/"):
        if path[1:] in ADMIN_SITE_NOBODY or ADMIN_SITE_NOBODY_PATTERN.match(path[1:]):
            return set()
        return EVERYONE if path[1:] in ADMIN_SITE_PUBLIC else ADMIN
    assert name in ACCESS, f"{path} ({name}) has no entry in ACCESS: say who may use it"
    return ACCESS[name]


def refused(response) -> bool:
    """A refusal: 401/403, or a redirect to a sign-in page."""
    if response.status_code in (401, 403):
        return True
    return response.status_code == 302 and "login" in response.get("Location", "")


def snapshot():
    """A digest of every row of the tables a request could change."""
    digest = hashlib.sha256()
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"SELECT * FROM {table} ORDER BY 1")  # noqa: S608 (names from the list above)
            digest.update(repr(cursor.fetchall()).encode())
    return digest.hexdigest()


def walk(world):
    seen = []
    for route, name in patterns():
        path = concrete(route, name, world)
        seen.append((path, name))
    return seen


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_every_url_lets_in_exactly_its_roles(world, role):
    user = world["people"].get(role)
    urls = walk(world)
    assert len(urls) >= 100  # the admin's pages included
    problems = []
    for path, name in urls:
        allowed = role in allowed_roles(path, name)
        for method in ("get", "post", "patch", "delete"):
            if method != "get" and name in ("logout",) and allowed:
                continue  # signing out ends this walk's session
            client = Client()
            if user:
                client.force_login(user)
            before = None if allowed else snapshot()
            response = getattr(client, method)(path, {} if method == "post" else None,
                                               **({"content_type": "application/json"} if method == "patch" else {}))
            status = response.status_code
            if status >= 500:
                problems.append(f"{method.upper()} {path}: {status}")
            elif allowed and refused(response) and not (name == "home" and role == "no role") and not (
                    method != "get" and ADMIN_SITE_READ_ONLY_PATTERN.match(path[1:])):
                problems.append(f"{method.upper()} {path}: {role} refused ({status} {response.get('Location', '')})")
            elif not allowed and not (refused(response) or (method != "get" and status == 405)):
                problems.append(f"{method.upper()} {path}: {role} let in ({status})")
            elif not allowed and snapshot() != before:
                problems.append(f"{method.upper()} {path}: {role} was refused but something changed")
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
def test_a_user_without_a_role_is_told_so_at_home(world):
    client = Client()
    client.force_login(world["people"]["no role"])
    response = client.get("/")
    assert response.status_code == 403 and b"no role" in response.content


@pytest.mark.django_db
def test_the_admin_site_needs_the_admin_role_not_only_the_staff_flag(world):
    staff = make_user("staff-only", "reviewer")
    User.objects.filter(pk=staff.pk).update(is_staff=True)
    client = Client()
    client.force_login(User.objects.get(pk=staff.pk))
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    Group.objects.get(name="admin").user_set.add(staff)
    client.force_login(User.objects.get(pk=staff.pk))
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_api_refusals_are_json_with_a_message(world):
    anonymous, reviewer = Client(), Client()
    reviewer.force_login(world["people"]["reviewer"])
    for client, path in ((anonymous, "/api/annotations/mine/"), (reviewer, "/api/queue/next/"),
                         (reviewer, "/api/no-such-endpoint/"), (reviewer, "/api/annotations/99999999999999999999/")):
        response = client.post(path, {}, content_type="application/json")
        assert response.status_code in (401, 403, 404) and response["Content-Type"] == "application/json", path
        assert response.json()["detail"], path
