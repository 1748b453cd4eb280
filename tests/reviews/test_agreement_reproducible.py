"""Agreement pairs each face's answers in the order they were first given (the earlier as x), whatever
order the database returns the rows in: on PostgreSQL a changed answer's row moves, and valence
CORR/CCC turned with each undo before agreement_rows ordered them."""
import numpy as np
import pytest
from django.db import connection

from annotator.domain.metrics import dimensional_metrics
from annotator.models import Annotation
from annotator.queue.services import annotation_change
from reviews.evaluation import agreement
from tests.conftest import make_user
from tests.queue.test_queue import make_face

FACES = 12


@pytest.mark.postgres
@pytest.mark.django_db
def test_agreement_is_the_same_after_an_answer_is_changed(settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL, whose row order moves with an update: set DATABASE_URL=postgres://...")
    settings.UNDO_LIMIT = FACES
    first, second = make_user("first", "annotator"), make_user("second", "annotator")
    rng = np.random.default_rng(3)
    answers = []
    for i in range(FACES):
        face = make_face(i, required=2)
        # The first annotator sees faces as more pleasant than the second: the pairs are not symmetric.
        valence = float(np.round(rng.uniform(-0.4, 0.3), 3))
        a = Annotation.objects.create(face=face, annotator=first, category=1, valence=valence + 0.3, arousal=0.2)
        Annotation.objects.create(face=face, annotator=second, category=1, valence=valence, arousal=0.1 * (i % 3))
        answers.append(a)
    before = agreement()
    # The first annotator changes half of their answers (undo): those rows get new versions.
    for a in answers[::2]:
        annotation_change(annotation_id=a.id, annotator=first, category=1, valence=a.valence + 0.05,
                          arousal=a.arousal, outside_region_confirmed=True)
    runs = [agreement() for _ in range(3)]
    for run in runs[1:]:
        assert run["valence"] == runs[0]["valence"] and run["arousal"] == runs[0]["arousal"]

    # The first answer is x on every face, as the README says.
    rows = list(Annotation.objects.order_by("face_id", "created_at", "id").values_list("valence", flat=True))
    x, y = np.array(rows[::2]), np.array(rows[1::2])
    expected = dimensional_metrics(x, y)
    for measure in ("rmse", "corr", "sagr", "ccc"):
        assert runs[0]["valence"][measure] == pytest.approx(expected[measure], abs=1e-12), measure
    assert runs[0]["valence"]["corr"] != pytest.approx(before["valence"]["corr"], abs=1e-6)  # the change counted
