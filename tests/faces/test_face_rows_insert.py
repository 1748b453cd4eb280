"""The import's fast way in: rows inserted with COPY on PostgreSQL, landmarks encoded by the readers, crops
written straight to a local folder. Each must store exactly what the general way stored."""
import json
import stat

import numpy as np
import pytest

from annotator.datasets.importing import affectnet_folder_import
from annotator.domain.labels import Label
from annotator.faces.store import NewFace, crop_save, crop_storage_name, faces_store
from annotator.models import Face, FinalSource, Project
from tests.affectnet_helpers import jpeg, write_face

# Floats whose text is long or unusual: the shortest repr, tiny exponents, a subnormal, the next float after
# one. (PostgreSQL's jsonb keeps numbers as decimals: -0.0 comes back as 0.0 and 1.8e308 as an integer, by either
# way of inserting; landmarks are pixels, so neither occurs.)
AWKWARD = [0.1 + 0.2, 1e-300, 123.45678901234567, float(np.nextafter(1.0, 2.0)), 5e-324, 223.99999999999997, 0.0,
           12.0, 1e-7]


def awkward_landmarks(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 224, 136)
    values[: len(AWKWARD)] = AWKWARD
    return values


@pytest.mark.django_db
def test_landmarks_round_trip_exactly_through_the_insert(data_root):
    faces = [NewFace(jpeg(i), id=100 + i, landmarks=awkward_landmarks(i)) for i in range(3)]
    faces[1].landmarks_encode()  # as an import's reader does: the row takes this text
    faces.append(NewFace(jpeg(9), id=200))  # no landmarks: NULL
    created = faces_store(faces)
    assert [f.id for f in created] == [100, 101, 102, 200]
    for i in range(3):
        stored = Face.objects.get(id=100 + i).landmarks
        assert stored == [float(v) for v in awkward_landmarks(i)]
        assert np.array_equal(np.asarray(stored, dtype=np.float64), awkward_landmarks(i))
        assert [repr(v) for v in stored] == [repr(float(v)) for v in awkward_landmarks(i)]
    assert Face.objects.get(id=200).landmarks is None


@pytest.mark.django_db
def test_inserted_rows_are_whole_rows_with_ids_drawn_or_given(data_root):
    given = faces_store([NewFace(jpeg(1), id=50, source="a.jpg", box=(1.5, 2.5, 30.0, 40.0), split="val",
                                 original_width=300, original_height=200, required_annotations=2)])[0]
    drawn = faces_store([NewFace(jpeg(2)), NewFace(jpeg(3))])
    assert drawn[0].id > 50 and drawn[1].id == drawn[0].id + 1  # the sequence went past the given id
    row = Face.objects.get(id=50)
    assert (row.source, row.box_x, row.box_y, row.box_width, row.box_height, row.split, row.original_width,
            row.original_height, row.required_annotations) == ("a.jpg", 1.5, 2.5, 30.0, 40.0, "val", 300, 200, 2)
    assert (row.answer_count, row.queue_priority, row.needs_review, row.is_gold, row.final_category,
            row.final_source) == (0, 0.0, False, False, None, "")
    assert row.created_at is not None and row.created_at == given.created_at
    assert row.image.name == crop_storage_name(row.content_hash) and row.image.read() == jpeg(1)
    assert {f.id for f in drawn} == set(Face.objects.exclude(id=50).values_list("id", flat=True))
    # The returned rows are saved rows: they update, not insert again.
    drawn[0].queue_priority = 2.0
    drawn[0].save(update_fields=["queue_priority"])
    assert Face.objects.get(id=drawn[0].id).queue_priority == 2.0


@pytest.mark.django_db
@pytest.mark.parametrize("workers", [1, 2])
def test_an_import_stores_each_faces_landmarks_exactly(data_root, workers):
    folder = data_root / "set" / "train_set"
    for stem in range(1, 6):
        write_face(folder, stem, lnd=awkward_landmarks(stem))
    report = affectnet_folder_import(path=data_root / "set", labels=True, progress=False, workers=workers)
    assert report.imported == 5 and not report.skipped
    for stem in range(1, 6):
        assert np.array_equal(np.asarray(Face.objects.get(id=stem).landmarks), awkward_landmarks(stem))


def test_a_crop_is_written_once_and_a_file_cut_short_is_written_again(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    data = jpeg(4)
    import hashlib

    content_hash = hashlib.sha256(data).hexdigest()
    name = crop_save(content_hash, data)
    path = tmp_path / "media" / name
    assert path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == settings.FILE_UPLOAD_PERMISSIONS
    inode = path.stat().st_ino
    assert crop_save(content_hash, data) == name and path.stat().st_ino == inode  # there already: kept
    path.write_bytes(data[:100])  # a writer killed part-way
    crop_save(content_hash, data)
    assert path.read_bytes() == data


def test_crop_release_needs_the_crop_stored_first():
    face = NewFace(jpeg(5))
    with pytest.raises(ValueError):
        face.crop_release()
    face.crop_saved = True
    content_hash = face.content_hash
    face.crop_release()
    assert face.crop_jpeg == b"" and face.content_hash == content_hash


def test_landmarks_are_encoded_as_django_writes_them():
    values = awkward_landmarks(1)
    assert NewFace(jpeg(6), landmarks=values).landmarks_encode() == json.dumps([float(v) for v in values])
    assert NewFace(jpeg(6)).landmarks_encode() is None




def test_landmarks_given_as_ints_or_a_list_are_encoded_as_floats():
    assert NewFace(jpeg(6), landmarks=[3, 4.5, np.float32(0.1)]).landmarks_encode() == json.dumps(
        [3.0, 4.5, float(np.float32(0.1))])


@pytest.mark.django_db
def test_the_returned_rows_hold_every_field_as_stored(data_root, django_assert_num_queries):
    project = Project.objects.default()
    labelled = NewFace(jpeg(4), id=60, source="b.jpg", landmarks=awkward_landmarks(4), split="train",
                       original_width=224, original_height=224, required_annotations=1,
                       final_label=Label(3, 0.5, -0.25), final_source=FinalSource.IMPORT, answer_count=1)
    created = faces_store([labelled, NewFace(jpeg(5), box=(1.0, 2.0, 3.0, 4.0))], project=project)
    assert len(created) == 2
    assert (created[0].answer_count, created[0].final_category, created[0].final_source) == (1, 3, "import")
    for face in created:
        stored = Face.objects.get(pk=face.pk)
        assert {f.attname: getattr(face, f.attname) for f in Face._meta.concrete_fields} == \
               {f.attname: getattr(stored, f.attname) for f in Face._meta.concrete_fields}
        with django_assert_num_queries(0):
            assert face.project == project
