"""Two admins at once (PostgreSQL, real row locks): two applies of the same split preview write one
assignment (the second finds the faces changed and is refused); two spot checks at once never flag a
face twice (the second draws again under the project's lock, among the faces not in review)."""
import threading

import pytest
from django.contrib.auth.models import Group
from django.db import connection, connections

from annotator.models import ConsoleAction, Face, Project
from annotator.splits.selectors import split_plan
from annotator.splits.services import PlanChanged, splits_apply
from annotator.web.roles import ROLES
from reviews.models import Flag
from reviews.selectors import spot_check_plan
from reviews.services import spot_checks_add
from tests.conftest import make_user
from tests.console.split_helpers import bulk_faces
from tests.review_factories import answer, make_face

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (DATABASE_URL)")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def at_once(*calls):
    """Run the calls in threads released together; return what each returned or raised."""
    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # collected: the test looks at it
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_applies_of_one_preview_write_once():
    project = Project.objects.default()
    bulk_faces(project, 2000)
    plan = split_plan(project, {"train": 0.9, "val": 0.1}, seed=1)
    # Both checked the digest before either wrote, without the project's lock: the second, waiting for it,
    # plans again after the first committed, and finds the unassigned faces gone.
    results = at_once(lambda: splits_apply(plan, expected_digest=plan.digest),
                      lambda: splits_apply(plan, expected_digest=plan.digest))
    assert sorted(type(r).__name__ for r in results) == ["PlanChanged", "dict"], results
    assert isinstance(next(r for r in results if not isinstance(r, dict)), PlanChanged)
    assert ConsoleAction.objects.count() == 1
    assert not Face.objects.filter(split="unassigned").exists()


def test_two_spot_checks_at_once_never_flag_a_face_twice():
    ann1, ann2 = make_user("a1", "annotator"), make_user("a2", "annotator")
    for _ in range(10):
        face = make_face(required=2)
        answer(face, ann1, 1, 0.5, 0.5)
        answer(face, ann2, 1, 0.5, 0.5)
    project = Project.objects.default()
    plan = spot_check_plan(project, count=6, seed=0)
    results = at_once(lambda: spot_checks_add(plan), lambda: spot_checks_add(plan))
    assert all(isinstance(r, list) for r in results), results
    flagged = list(Flag.objects.filter(reason=Flag.Reason.SPOT_CHECK).values_list("face_id", flat=True))
    assert len(flagged) == 10 and len(set(flagged)) == 10  # 6, then 4 of the rest (all that were left)
    assert ConsoleAction.objects.count() == 2
