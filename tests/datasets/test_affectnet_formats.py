"""The Django-free AffectNet readers and writers: what training scripts read, what is refused."""

import io
import random

import numpy as np
import pytest

from annotator.datasets.formats import affectnet_csv, affectnet_npy, available_formats
from annotator.datasets.formats.affectnet_npy import AnnotationFileError


def test_written_files_are_what_training_scripts_read(tmp_path):
    lnd = np.linspace(0, 223, 136)
    affectnet_npy.write_face(tmp_path, 17, category=3, valence=-0.176846, arousal=0.5, landmarks=lnd)
    exp, val, aro = (np.load(tmp_path / f"17_{k}.npy", allow_pickle=False) for k in ("exp", "val", "aro"))
    assert (exp.shape, exp.dtype.kind, exp.dtype.str) == ((), "U", "<U1")
    assert (val.dtype.str, str(val)) == ("<U9", "-0.176846")
    assert int(exp) == 3 and float(val) == -0.176846 and float(aro) == 0.5
    got = np.load(tmp_path / "17_lnd.npy", allow_pickle=False)
    assert got.shape == (136,) and got.dtype == np.float64 and np.array_equal(got, lnd)
    face = affectnet_npy.read_face(tmp_path, 17)
    assert (face.category, face.valence, face.arousal) == (3, -0.176846, 0.5)


def test_uncertain_and_no_face_write_minus_two_and_read_as_empty(tmp_path):
    affectnet_npy.write_face(tmp_path, 1, category=10, valence=None, arousal=None, landmarks=np.zeros(136))
    assert str(np.load(tmp_path / "1_val.npy")) == "-2" and float(np.load(tmp_path / "1_aro.npy")) == -2.0
    face = affectnet_npy.read_face(tmp_path, 1)
    assert (face.category, face.valence, face.arousal) == (10, None, None)


def test_value_text_is_stable_under_parse_and_format():
    rng = random.Random(3)
    values = [rng.uniform(-1, 1) for _ in range(2000)] + [0.0, -0.0, 1.0, -1.0, 1e-7, -1e-7, 0.3, 0.1 + 0.2]
    for value in values:
        text = affectnet_npy.format_value(value)
        assert "e" not in text and affectnet_npy.format_value(float(text)) == text
        assert abs(float(text) - value) <= 5e-7
    assert affectnet_npy.format_value(None) == "-2" and affectnet_npy.format_value(0.5) == "0.5"


class _Marker:
    """Unpickling this would create a file: proof that a reader never unpickles."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (self.path.__class__.touch, (self.path,))


def test_pickled_object_array_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "9_exp.npy"
    np.save(path, np.array([_Marker(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(AnnotationFileError, match="9_exp.npy.*pickled"):
        affectnet_npy.read_expression(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "kind, array, reason",
    [
        ("exp", np.array("11"), "outside 0-10"),
        ("exp", np.array("-1"), "outside 0-10"),
        ("exp", np.array("happy"), "not an integer"),
        ("exp", np.array(["1", "2"]), "one value"),
        ("val", np.array("abc"), "not a number"),
        ("val", np.array("nan"), "finite"),
        ("val", np.array(True), "string or number"),
        ("lnd", np.zeros(135), "136 landmark values"),
        ("lnd", np.array(["1"] * 136), "must be numbers"),
        ("lnd", np.full(136, np.inf), "NaN or infinite"),
    ],
)
def test_bad_files_are_refused_with_file_and_reason(tmp_path, kind, array, reason):
    path = tmp_path / f"5_{kind}.npy"
    np.save(path, array)
    reader = {
        "exp": affectnet_npy.read_expression,
        "val": affectnet_npy.read_value,
        "lnd": affectnet_npy.read_landmarks,
    }
    with pytest.raises(AnnotationFileError, match=reason) as info:
        reader[kind](path)
    assert info.value.path == str(path)


def test_label_ranges_name_the_file(tmp_path):
    for kind, text in (("exp", "2"), ("val", "1.5"), ("aro", "0.2")):
        np.save(tmp_path / f"1_{kind}.npy", np.array(text))
    np.save(tmp_path / "1_lnd.npy", np.zeros(136))
    with pytest.raises(AnnotationFileError, match=r"1_val.npy: 1.5 is outside \[-1, 1\]"):
        affectnet_npy.read_face(tmp_path, 1)
    np.save(tmp_path / "1_exp.npy", np.array("9"))
    with pytest.raises(AnnotationFileError, match="1_val.npy.*must be -2"):
        affectnet_npy.read_label(*(tmp_path / f"1_{k}.npy" for k in ("exp", "val", "aro")))


def test_missing_and_truncated_files(tmp_path):
    with pytest.raises(AnnotationFileError, match="missing"):
        affectnet_npy.read_landmarks(tmp_path / "nope_lnd.npy")
    path = tmp_path / "2_lnd.npy"
    np.save(path, np.zeros(136))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(AnnotationFileError, match="2_lnd.npy"):
        affectnet_npy.read_landmarks(path)


def test_csv_round_trip_and_bad_rows():
    out = io.StringIO()
    writer = affectnet_csv.CsvWriter(out)
    lnd = [float(i) + 0.25 for i in range(136)]
    writer.write(path="a/1.jpg", box=(10, 20, 30, 40), landmarks=lnd, category=2, valence=-0.5, arousal=0.125)
    writer.write(path="a/2.jpg", box=(1, 2, 3, 4), landmarks=lnd, category=9, valence=None, arousal=None)
    text = out.getvalue()
    assert text.splitlines()[0] == ",".join(affectnet_csv.COLUMNS)
    assert text.splitlines()[2].endswith(",9,-2,-2")
    rows = list(affectnet_csv.read_rows(io.StringIO(text)))
    assert rows[0] == affectnet_csv.CsvRow("a/1.jpg", (10, 20, 30, 40), tuple(lnd), 2, -0.5, 0.125)
    assert (rows[1].category, rows[1].valence, rows[1].arousal) == (9, None, None)

    bad = text.replace(",2,-0.5,", ",2,-1.5,").replace(",9,-2,-2", ",12,-2,-2")
    errors = list(affectnet_csv.read_rows(io.StringIO(bad), name="t.csv"))
    assert "t.csv, line 2: valence: -1.5 is outside" in str(errors[0])
    assert "t.csv, line 3: expression: 12 is outside 0-10" in str(errors[1])
    with pytest.raises(affectnet_csv.CsvRowError, match="missing columns: facial_landmarks"):
        list(affectnet_csv.read_rows(io.StringIO("subDirectory_filePath,face_x,face_y,face_width,face_height\n")))


def test_registry_names_both_formats():
    assert [f.name for f in available_formats()] == ["affectnet-csv", "affectnet-npy", "answer-tables", "hf"]


def test_npy_bytes_are_what_np_save_writes():
    rng = np.random.default_rng(5)
    arrays = [np.array(str(c)) for c in range(11)]
    arrays += [np.array(affectnet_npy.format_value(v)) for v in rng.uniform(-1, 1, 50)] + [np.array("-2")]
    arrays += [rng.uniform(0, 224, 136), np.zeros(136), np.arange(136, dtype=np.float64)[::-1]]
    for array in arrays:
        saved = io.BytesIO()
        np.save(saved, array)
        assert affectnet_npy.npy_bytes(array) == saved.getvalue(), array


def test_load_array_reads_what_np_load_reads_and_refuses_short_data(tmp_path):
    arrays = [
        np.array("-0.176846"),
        np.array("3"),
        np.linspace(0, 223, 136),
        np.arange(136, dtype=">f8"),  # big-endian
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        np.array(7, dtype=np.int16),
        np.array(b"4"),
    ]
    for index, array in enumerate(arrays):
        path = tmp_path / f"{index}.npy"
        np.save(path, array)
        got, want = affectnet_npy.load_array(path), np.load(path, allow_pickle=False)
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want), array
        # Not only through the np.load fallback: plain files take the cached-header reader.
        fast = affectnet_npy._array_from_1_0(path.read_bytes())
        assert fast is not None and fast.dtype == want.dtype and np.array_equal(fast, want), array
    path = tmp_path / "short_lnd.npy"
    np.save(path, np.zeros(136))
    path.write_bytes(path.read_bytes()[:-8])  # header whole, one landmark value missing
    with pytest.raises(AnnotationFileError, match="short_lnd.npy: not a readable .npy file"):
        affectnet_npy.load_array(path)
