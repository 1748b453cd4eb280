"""export_dataset: a Hugging Face dataset and an image folder of the faces export_affectnet writes."""

import io
import json

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from annotator.datasets.formats import affectnet_npy
from annotator.domain.categories import CATEGORY_NAMES
from tests.datasets.test_affectnet_export import labelled_face


def run(*args):
    out = io.StringIO()
    call_command(*args, "--no-progress", stdout=out)
    return out.getvalue()


@pytest.fixture
def hf_offline(monkeypatch, tmp_path):
    """datasets reads only what it is given: no hub, its cache in the test's folder."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    return tmp_path / "hf-cache"


@pytest.fixture
def faces(data_root, annotator_user, second_annotator):
    a, b = annotator_user, second_annotator
    labelled_face(1, [(a, 3, 0.2, 0.4), (b, 3, 0.4, 0.0)])  # agreement: valence/arousal averaged
    labelled_face(2, [(a, 10, None, None)])  # No-Face: no point
    labelled_face(3, [(b, 1, 0.9, -0.125)], split="val")
    labelled_face(4, [(a, 2, 0.1, 0.1), (b, 6, -0.5, 0.5)])  # disagreement: no final label, left out
    labelled_face(6, [(a, 5, 0.1, 0.1)], split="unassigned")  # left out
    labelled_face(8, [(a, 9, None, None)])  # Uncertain
    labelled_face(9, [(b, 0, -0.3, 0.7)])
    labelled_face(10, [(a, 7, -1.0, 0.0)], split="val")
    return data_root


def affectnet_faces(root):
    """Read an AffectNet export the way a training script does: {id: (jpeg, category, valence, arousal, landmarks)}."""
    found = {}
    for split, folder in (("train", "train_set"), ("val", "val_set")):
        for image in sorted((root / folder / "images").glob("*.jpg")):
            ann = affectnet_npy.read_face(root / folder / "annotations", image.stem, labels=True)
            found[int(image.stem)] = (split, image.read_bytes(), ann.category, ann.valence, ann.arousal,
                                      ann.landmarks.tolist())
    return found


@pytest.mark.django_db
def test_hf_dataset_reads_back_with_datasets_face_for_face_as_the_affectnet_export(faces, hf_offline):
    import datasets

    run("export_affectnet", str(faces / "affectnet"))
    printed = run("export_dataset", str(faces / "hf"), "--format", "hf", "--shard-size", "2")
    assert "wrote 6 faces" in printed and "train: 4 faces" in printed and "val: 2 faces" in printed
    shards = sorted(p.name for p in (faces / "hf" / "data").iterdir())
    assert shards == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet",
                      "validation-00000-of-00001.parquet"]

    loaded = datasets.load_dataset(str(faces / "hf"), cache_dir=str(hf_offline))
    assert sorted(loaded) == ["train", "validation"]
    features = loaded["train"].features
    assert isinstance(features["label"], datasets.ClassLabel) and features["label"].names == list(CATEGORY_NAMES)
    assert isinstance(features["image"], datasets.Image)
    assert features["landmarks"].length == 136 and features["valence"].dtype == "float64"

    expected = affectnet_faces(faces / "affectnet")
    got = {}
    for hf_split, split in (("train", "train"), ("validation", "val")):
        for row in loaded[hf_split].cast_column("image", datasets.Image(decode=False)):
            got[row["id"]] = (split, row["image"]["bytes"], row["label"], row["valence"], row["arousal"],
                              row["landmarks"])
            assert row["split"] == split
    assert sorted(got) == sorted(expected) == [1, 2, 3, 8, 9, 10]
    for face_id, (split, jpeg, label, valence, arousal, landmarks) in expected.items():
        assert got[face_id][:3] == (split, jpeg, label)  # the same bytes, the same label
        # AffectNet's files hold six decimals; the dataset keeps the stored float, which those files round to.
        for mine, theirs in zip(got[face_id][3:5], (valence, arousal)):
            assert affectnet_npy.format_value(mine) == affectnet_npy.format_value(theirs)
            assert (mine is None) == (theirs is None)  # None for Uncertain/No-Face on both sides
        np.testing.assert_array_equal(got[face_id][5], landmarks)
    assert got[2][3] is None and got[8][4] is None and got[1][3] == pytest.approx(0.3)
    # Decoded, the image is the 224x224 crop.
    first = loaded["train"][0]["image"]
    assert isinstance(first, Image.Image) and first.size == (224, 224)
    # The plain parquet loader reads the shards too, with the same features.
    plain = datasets.load_dataset("parquet", data_dir=str(faces / "hf" / "data"), cache_dir=str(hf_offline))
    assert plain["train"].features["label"].names == list(CATEGORY_NAMES)
    # And save_to_disk / load_from_disk keeps it as it is.
    loaded.save_to_disk(str(faces / "saved"))
    again = datasets.load_from_disk(str(faces / "saved"))
    assert sorted(again["validation"]["id"]) == [3, 10]

    manifest = json.loads((faces / "hf" / "manifest.json").read_text())
    card = (faces / "hf" / "README.md").read_text()
    assert manifest["counts"]["train"]["total"] == 4 and manifest["format"] == "hf"
    assert "| 10 | No-Face | 1 | 0 |" in card and "| 7 | Contempt | 0 | 1 |" in card
    assert "| | **total** | **4** | **2** |" in card
    assert "## Licence" in card and "## Citation" in card and "FILL IN" in card
    assert "left_out" in manifest and manifest["left_out"]["unassigned split"] == 1


@pytest.mark.django_db
def test_hf_category_selection_matches_affectnet_export_selection(faces, hf_offline):
    import datasets

    run("export_affectnet", str(faces / "affectnet"), "--categories", "0-7", "--split", "train")
    run("export_dataset", str(faces / "hf"), "--format", "hf", "--categories", "0-7", "--split", "train")
    loaded = datasets.load_dataset(str(faces / "hf"), cache_dir=str(hf_offline))
    assert sorted(loaded) == ["train"]
    assert sorted(loaded["train"]["id"]) == sorted(affectnet_faces(faces / "affectnet")) == [1, 9]
    # A split without faces (no Contempt in train) has no shard, and the card does not name it.
    run("export_dataset", str(faces / "empty"), "--format", "hf", "--categories", "7")
    loaded = datasets.load_dataset(str(faces / "empty"), cache_dir=str(hf_offline))
    assert sorted(loaded) == ["validation"] and loaded["validation"]["id"] == [10]


@pytest.mark.django_db
def test_imagefolder_has_a_folder_per_class_in_affectnets_order(faces):
    run("export_affectnet", str(faces / "affectnet"))
    printed = run("export_dataset", str(faces / "folder"), "--format", "imagefolder")
    assert "wrote 6 faces" in printed
    out = faces / "folder"
    classes = sorted(p.name for p in (out / "train").iterdir())
    assert classes[:3] == ["00_Neutral", "01_Happiness", "02_Sadness"] and classes[-1] == "10_No-Face"
    assert len(classes) == 11  # every class has its folder, empty or not (ImageFolder's indices stay AffectNet's)
    # torchvision's ImageFolder numbers the sorted folder names: index = AffectNet's category.
    assert {name: index for index, name in enumerate(classes)} == {
        f"{c:02d}_{n}": c for c, n in enumerate(CATEGORY_NAMES)}
    expected = affectnet_faces(faces / "affectnet")
    found = {}
    for split in ("train", "val"):
        for path in (out / split).glob("*/*.jpg"):
            found[int(path.stem)] = (split, path.read_bytes(), int(path.parent.name[:2]))
    assert found == {i: e[:3] for i, e in expected.items()}


@pytest.mark.django_db
def test_export_dataset_refuses_a_folder_it_did_not_write(faces):
    mine = faces / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(CommandError, match="not empty"):
        run("export_dataset", str(mine), "--format", "hf")
    with pytest.raises(CommandError, match="only a folder that export_dataset wrote.*nothing was deleted"):
        run("export_dataset", str(mine), "--format", "hf", "--force")
    run("export_affectnet", str(faces / "affectnet"))
    with pytest.raises(CommandError, match="was not written by export_dataset"):
        run("export_dataset", str(faces / "affectnet"), "--format", "hf", "--force")
    assert (mine / "notes.txt").read_text() == "keep me"
    with pytest.raises(CommandError, match="DATA_ROOTS"):
        run("export_dataset", str(faces.parent / "elsewhere"), "--format", "hf")
    # An earlier export_dataset output is replaced, in either layout.
    run("export_dataset", str(faces / "ds"), "--format", "imagefolder")
    run("export_dataset", str(faces / "ds"), "--format", "hf", "--force")
    assert not (faces / "ds" / "train").exists() and (faces / "ds" / "data").is_dir()
    run("export_dataset", str(faces / "ds"), "--format", "imagefolder", "--force")
    assert (faces / "ds" / "train" / "03_Surprise" / "1.jpg").is_file()
