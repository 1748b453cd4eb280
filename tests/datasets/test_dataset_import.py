"""import_dataset: a Hugging Face dataset moves between instances; bad files are refused whole."""

import io
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotator.models import Annotation, Face, FinalSource
from tests.affectnet_helpers import files_of
from tests.datasets.test_affectnet_export import labelled_face


def run(*args):
    out = io.StringIO()
    call_command(*args, "--no-progress", stdout=out)
    return out.getvalue()


@pytest.fixture
def exported(data_root, annotator_user, second_annotator, settings):
    """An instance's faces exported as AffectNet and as a dataset, then the instance emptied (a new one)."""
    a, b = annotator_user, second_annotator
    labelled_face(1, [(a, 3, 0.2, 0.4), (b, 3, 0.4, 0.0)])
    labelled_face(2, [(a, 10, None, None)])
    labelled_face(3, [(b, 1, 0.9, -0.125)], split="val")
    labelled_face(5, [(a, 9, None, None)], split="val")
    labelled_face(7, [(b, 0, -0.3, 0.7)])
    run("export_affectnet", str(data_root / "affectnet"))
    run("export_dataset", str(data_root / "hf"), "--format", "hf", "--shard-size", "2")
    Annotation.objects.all().delete()
    Face.objects.all().delete()
    shutil.rmtree(settings.MEDIA_ROOT)
    return data_root


def nothing_imported():
    return Face.objects.count() == 0 and Annotation.objects.count() == 0


@pytest.mark.django_db
def test_a_dataset_moves_to_another_instance_and_exports_the_same_affectnet_files(exported):
    printed = run("import_dataset", str(exported / "hf"))
    assert "imported 5 faces (5 annotations), already present 0, skipped 0" in printed
    faces = {f.id: f for f in Face.objects.all()}
    assert sorted(faces) == [1, 2, 3, 5, 7]
    assert faces[3].split == "val" and faces[1].split == "train"
    assert all(f.final_source == FinalSource.IMPORT for f in faces.values())
    assert (faces[1].final_category, faces[1].final_valence) == (3, pytest.approx(0.3))
    assert faces[2].final_valence is None and faces[5].final_category == 9
    answers = Annotation.objects.all()
    assert {a.annotator.username for a in answers} == {"affectnet-import"} and all(a.imported for a in answers)
    # Exported again from the new instance: the same AffectNet files, byte for byte.
    run("export_affectnet", str(exported / "again"))
    first, again = files_of(exported / "affectnet"), files_of(exported / "again")
    first.pop("manifest.json"), again.pop("manifest.json")
    assert again == first
    # A second import adds nothing.
    assert "imported 0 faces (0 annotations), already present 5" in run("import_dataset", str(exported / "hf"))


@pytest.mark.django_db
def test_one_shard_a_split_option_and_no_labels(exported):
    shard = exported / "hf" / "data" / "validation-00000-of-00001.parquet"
    run("import_dataset", str(shard), "--labels", "none", "--split", "unassigned", "--workers", "2")  # reader processes
    assert sorted(Face.objects.values_list("id", "split")) == [(3, "unassigned"), (5, "unassigned")]
    assert Annotation.objects.count() == 0 and not Face.objects.filter(final_category__isnull=False).exists()


def rewrite(path, change):
    """Rewrite a shard with change(table) -> table."""
    pq.write_table(change(pq.read_table(path)), path)


def set_value(table, column, row, value):
    values = table.column(column).to_pylist()
    values[row] = value
    return table.set_column(table.schema.get_field_index(column), table.schema.field(column),
                            pa.array(values, type=table.schema.field(column).type))


def train_shard(root):
    return root / "hf" / "data" / "train-00001-of-00002.parquet"


BAD = {
    "missing column": (
        lambda t: t.drop_columns(["landmarks"]), "landmarks: missing column"),
    "wrong type": (
        lambda t: t.set_column(t.schema.get_field_index("label"), "label",
                               pa.array([str(v) for v in t.column("label").to_pylist()])),
        "label: type string is not an integer"),
    "landmarks not a list": (
        lambda t: t.set_column(t.schema.get_field_index("landmarks"), "landmarks", pa.array(["x"] * t.num_rows)),
        "landmarks: type string is not a list of 136 floats"),
    "unknown category": (
        lambda t: set_value(t, "label", 0, 11), "row 1 (id 7): label: 11 is not a category (0-10)"),
    "valence out of range": (
        lambda t: set_value(t, "valence", 0, 1.5), "row 1 (id 7): valence: 1.5 is outside [-1, 1]"),
    "point for No-Face": (
        lambda t: set_value(set_value(t, "label", 0, 10), "valence", 0, 0.5), "valence: must be empty (or -2)"),
    "missing valence": (
        lambda t: set_value(t, "valence", 0, None), "row 1 (id 7): valence: not a number: None"),
    "short landmarks": (
        lambda t: t.set_column(t.schema.get_field_index("landmarks"), "landmarks",
                               pa.array([[1.0] * 10] * t.num_rows)), "landmarks: 10 values, expected 136"),
    "infinite landmark": (
        lambda t: t.set_column(t.schema.get_field_index("landmarks"), "landmarks",
                               pa.array([[float("inf")] * 136] * t.num_rows)), "landmarks: not all finite numbers"),
    "bad id": (lambda t: set_value(t, "id", 0, 0), "id: 0 is not a face id"),
    "unknown split": (lambda t: set_value(t, "split", 0, "test"), "split: 'test' is not train, val or unassigned"),
    "corrupt image": (
        lambda t: set_value(t, "image", 0, {"bytes": b"\xff\xd8 not a jpeg", "path": "7.jpg"}),
        "row 1: image: not a readable image"),
    "other class names": (
        lambda t: t.replace_schema_metadata({b"huggingface": t.schema.metadata[b"huggingface"].replace(
            b'"Neutral"', b'"Calm"')}),
        "label: ClassLabel names"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_names_file_and_field_and_imports_nothing(exported, case):
    change, message = BAD[case]
    shard = train_shard(exported)
    rewrite(shard, change)
    # Shards are read in name order: the good train-00000 shard comes first and, with a batch of
    # one face, is stored before the bad row is reached; the transaction takes it back.
    with pytest.raises(CommandError) as refused:
        run("import_dataset", str(exported / "hf"), "--batch-size", "1", "--workers", "1")
    assert str(shard) in str(refused.value) and message in str(refused.value)
    assert nothing_imported()


@pytest.mark.django_db
def test_not_parquet_not_a_dataset_and_outside_roots_are_refused(exported, tmp_path):
    (exported / "hf" / "data" / "train-00000-of-00002.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(CommandError, match=r"train-00000-of-00002\.parquet: not a readable Parquet file"):
        run("import_dataset", str(exported / "hf"))
    empty = exported / "empty"
    empty.mkdir()
    with pytest.raises(CommandError, match="no .parquet files"):
        run("import_dataset", str(empty))
    with pytest.raises(CommandError, match="DATA_ROOTS"):
        run("import_dataset", str(tmp_path))
    assert nothing_imported()


@pytest.mark.django_db
def test_export_dataset_bad_options(exported):
    for args, message in (
        (["--format", "hf", "--split", "unassigned"], "invalid choice"),
        (["--format", "hf", "--categories", "0-12"], "outside 0-10"),
        (["--format", "hf", "--shard-size", "0"], "--shard-size: at least 1"),
        (["--format", "csv"], "invalid choice"),
    ):
        with pytest.raises(CommandError, match=message):
            run("export_dataset", str(exported / "x"), *args)
    assert not (exported / "x").exists()
