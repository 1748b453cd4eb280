"""The worker checks a face's flags for every answer saved: its round trips stay few, and the face's review
state is written only when it changes (what an answer changed, the queue's services wrote already)."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotator.domain.categories import ANGER, HAPPINESS
from annotator.domain.va_regions import REGIONS
from annotator.models import Face
from reviews.flagging import face_flags_evaluate
from reviews.models import Flag, FlagCheck
from tests.conftest import make_user
from tests.review_factories import answer, make_face, suggest, suggester

# The face (locked, with its project's region check), its answers, its suggestion, its gold item, its flags,
# the check's time (one upsert), and a new flag: BEGIN/COMMIT and savepoints besides.
MOST_STATEMENTS = 10


def statements(queries) -> list:
    return [q["sql"] for q in queries if not q["sql"].startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))]


@pytest.mark.django_db
def test_a_check_takes_few_round_trips_and_writes_the_face_only_when_its_state_changes(data_root):
    user = make_user("ann1", "annotator")
    face = make_face(required=1)
    model = suggester()
    anger = REGIONS[ANGER]["center"]
    suggest(face, model, ANGER, *anger, confidence=0.95)
    answer(face, user, HAPPINESS, *REGIONS[HAPPINESS]["center"])
    with CaptureQueriesContext(connection) as first:
        [flag] = face_flags_evaluate(face_id=face.id)
    assert flag.reason == Flag.Reason.ANNOTATOR_VS_MODEL
    face.refresh_from_db()
    assert face.needs_review and face.final_category is None  # the open flag withholds the answer
    written = statements(first.captured_queries)
    assert len(written) <= MOST_STATEMENTS + 3, written  # + the face's review state and final label
    checked = FlagCheck.objects.get(face=face).checked_at

    with CaptureQueriesContext(connection) as again:
        [same] = face_flags_evaluate(face_id=face.id)
    assert same.id == flag.id
    nothing_changed = statements(again.captured_queries)
    assert len(nothing_changed) <= MOST_STATEMENTS - 1, nothing_changed
    assert not [sql for sql in nothing_changed if sql.startswith('UPDATE "annotator_face"')], nothing_changed
    assert FlagCheck.objects.get(face=face).checked_at > checked  # the check's time moves on every check
    assert FlagCheck.objects.count() == 1

    # The answer changes to agree with the model: the flag closes and the face's state follows.
    face.annotations.update(category=ANGER, valence=anger[0], arousal=anger[1])
    assert face_flags_evaluate(face_id=face.id) == []
    face = Face.objects.get(pk=face.pk)
    assert not face.needs_review and face.final_category == ANGER
    assert Flag.objects.get(pk=flag.pk).status == Flag.Status.CLOSED


@pytest.mark.django_db
def test_a_batch_of_faces_is_checked_with_the_statements_of_one(data_root):
    """The drain and the sweeps check faces in chunks: the reads and the check's time are one statement each
    for the whole chunk, so 40 faces whose state does not change cost what one face does."""
    from reviews.flagging import CHECK_CHUNK, faces_flags_evaluate

    user = make_user("ann1", "annotator")
    model = suggester()
    anger = REGIONS[ANGER]["center"]
    faces = [make_face(required=1) for _ in range(40)]
    assert len(faces) <= CHECK_CHUNK
    for face in faces:
        suggest(face, model, ANGER, *anger, confidence=0.95)
        answer(face, user, HAPPINESS, *REGIONS[HAPPINESS]["center"])
    ids = [f.id for f in faces]
    assert faces_flags_evaluate(ids) == 40
    assert Flag.objects.filter(face_id__in=ids, status=Flag.Status.OPEN).count() == 40
    with CaptureQueriesContext(connection) as again:
        assert faces_flags_evaluate(ids) == 40
    assert len(statements(again.captured_queries)) <= MOST_STATEMENTS - 1, statements(again.captured_queries)
    assert Flag.objects.filter(face_id__in=ids, status=Flag.Status.OPEN).count() == 40  # none opened twice
    assert FlagCheck.objects.filter(face_id__in=ids).count() == 40
