"""The bulk final-label write of imports (faces.services.faces_final_labels_store)."""
import pytest

from annotator.domain.labels import Label
from annotator.faces import services
from annotator.faces.services import faces_final_labels_store, final_label_fields
from annotator.models import Face, FinalSource
from tests.queue.test_queue import make_face


@pytest.mark.django_db
def test_each_face_gets_its_own_label_in_chunks(monkeypatch):
    monkeypatch.setattr(services, "FINAL_LABELS_CHUNK", 2)  # three statements for five labels
    faces = [make_face(n) for n in range(6)]
    labels = {
        faces[0].id: Label(1, 0.5, 0.25),
        faces[1].id: Label(10, None, None),  # No-Face carries no point
        faces[2].id: Label(7, -0.45, 0.2),
        faces[3].id: Label(9, None, None),
        faces[4].id: Label(0, -1.0, 1.0),
    }
    assert faces_final_labels_store(labels, FinalSource.IMPORT) == 5
    for face in Face.objects.filter(id__in=labels):
        label = labels[face.id]
        assert (face.final_category, face.final_valence, face.final_arousal) == (label.category, label.valence, label.arousal)
        assert face.final_source == FinalSource.IMPORT and face.final_at is not None
    untouched = Face.objects.get(pk=faces[5].pk)
    assert (untouched.final_category, untouched.final_source, untouched.final_at) == (None, "", None)


@pytest.mark.django_db
def test_nothing_to_store_and_no_source_are_refused_or_nothing():
    face = make_face(1)
    assert faces_final_labels_store({}, FinalSource.IMPORT) == 0
    with pytest.raises(ValueError):
        faces_final_labels_store({face.id: Label(1, 0.5, 0.2)}, FinalSource.NONE)
    assert Face.objects.get(pk=face.pk).final_category is None


def test_final_label_fields_take_each_source_of_a_final_label_and_refuse_others():
    for source in set(FinalSource.values) - {FinalSource.NONE}:
        assert final_label_fields(Label(1, 0.5, 0.2), source, None)["final_source"] == source
    for source in (FinalSource.NONE, "imported", None):
        with pytest.raises(ValueError):
            final_label_fields(Label(1, 0.5, 0.2), source, None)
