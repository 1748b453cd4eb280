"""faces_store: dedup by content, explicit ids, overlap draw, crops kept or re-encoded."""
import io

import pytest
from PIL import Image

from annotator.domain.crops import ImageUnreadable, crop_normalise
from annotator.faces.store import NewFace, faces_store, required_annotations_for
from annotator.models import Face, Project


def jpeg(color, size=(224, 224)):
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG")
    return out.getvalue()


@pytest.mark.django_db
def test_store_dedups_by_content_and_id(data_root):
    created = faces_store([NewFace(jpeg((255, 0, 0)), id=7), NewFace(jpeg((0, 255, 0)), id=9)])
    assert [f.id for f in created] == [7, 9]
    again = faces_store([NewFace(jpeg((255, 0, 0)), id=7), NewFace(jpeg((255, 0, 0)), id=12)])
    assert again == [] and Face.objects.count() == 2
    new = faces_store([NewFace(jpeg((0, 0, 255)))])  # no id given: the sequence goes past 9
    assert new[0].id > 9
    assert Face.objects.get(id=7).image.read() == jpeg((255, 0, 0))


def test_crop_is_kept_when_already_224_jpeg_and_reencoded_otherwise():
    data = jpeg((10, 20, 30))
    assert crop_normalise(data)[0] == data
    resized, size = crop_normalise(jpeg((10, 20, 30), size=(300, 200)))
    assert size == (300, 200)
    assert Image.open(io.BytesIO(resized)).size == (224, 224)
    with pytest.raises(ImageUnreadable, match="broken.jpg"):
        crop_normalise(data[: len(data) // 2], name="broken.jpg")


def test_overlap_share_is_about_the_projects_policy():
    import hashlib

    project = Project(annotators_per_face=1, overlap_share=0.10)
    needs = [required_annotations_for(hashlib.sha256(str(i).encode()).hexdigest(), project) for i in range(5000)]
    assert set(needs) == {1, 2}
    assert 0.08 < needs.count(2) / len(needs) < 0.12


@pytest.mark.django_db
def test_faces_another_import_stored_meanwhile_are_skipped_not_an_error(data_root, monkeypatch):
    """Two uploads of one photo at once: the second's look-up ran before the first committed."""
    from annotator.faces import store

    faces_store([NewFace(jpeg((1, 2, 3)))])  # the other import's face, committed
    real_known, stale = store._known, [True]

    def known_once_stale(new_faces, project):
        if stale.pop() if stale else False:
            return set(), set(), set()  # as looked up before the other import's commit
        return real_known(new_faces, project)

    monkeypatch.setattr(store, "_known", known_once_stale)
    created = faces_store([NewFace(jpeg((1, 2, 3))), NewFace(jpeg((4, 5, 6)))])
    assert [f.content_hash for f in created] == [NewFace(jpeg((4, 5, 6))).content_hash]
    assert Face.objects.count() == 2
