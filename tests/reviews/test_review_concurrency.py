"""Two reviewers deciding the same face at once end with one decision, the later one, and no open flag."""
import threading

import pytest
from django.contrib.auth.models import Group
from django.db import connection, connections

from annotator.web.roles import ROLES
from reviews.models import Decision, Flag
from reviews.services import decision_make
from tests.conftest import make_user
from tests.review_factories import answer, flag, make_face


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_decisions_on_one_face(data_root):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (DATABASE_URL)")
    for name in ROLES:
        Group.objects.get_or_create(name=name)
    annotator, r1, r2 = make_user("a", "annotator"), make_user("r1", "reviewer"), make_user("r2", "reviewer")
    face = make_face()
    answer(face, annotator, 1, 0.5, 0.5)
    flag(face)
    flag(face, reason=Flag.Reason.ANNOTATOR_VS_MODEL, key="m")
    barrier = threading.Barrier(2)
    errors = []

    def decide(reviewer, category):
        try:
            barrier.wait()
            decision_make(face=face, reviewer=reviewer, category=category, valence=0.1, arousal=0.2)
        except Exception as exc:  # collected: the test fails with it below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=decide, args=(r, c)) for r, c in ((r1, 2), (r2, 3))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    decision = Decision.objects.get(face=face)
    face.refresh_from_db()
    assert face.final_category == decision.category and face.final_source == "review"
    assert not Flag.objects.filter(face=face, status="open").exists()
    assert Decision.history.filter(face_id=face.id).count() == 2
