"""export_affectnet --answers: answers.parquet (every answer) and faces.parquet (soft labels, flags)."""

import io
import json
import math

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotator.datasets import answer_export
from annotator.datasets.formats import answer_tables
from annotator.domain.labels import Label
from annotator.faces.services import face_gold_set
from reviews.models import Flag
from tests.review_factories import answer, flag, make_face, suggest, suggester


def run(*args):
    out = io.StringIO()
    call_command(*args, "--no-progress", stdout=out)
    return out.getvalue()


@pytest.fixture
def answered(data_root, annotator_user, second_annotator, reviewer_user):
    a, b, c = annotator_user, second_annotator, reviewer_user
    model = suggester("resnet-affect", "1.2")
    agreed = make_face(split="train")  # two answers, the same category: final by agreement
    shown = suggest(agreed, model, 3, 0.2, 0.3, confidence=0.7)
    answer(agreed, a, 3, 0.2, 0.4, suggestion=shown, kept_suggestion=True, seconds_spent=4.5, guideline_version=2)
    answer(agreed, b, 3, 0.4, 0.0, shown_blind=True, outside_region_confirmed=True)
    split3 = make_face(split="train", required=3)  # three answers, disagreeing: no final label
    answer(split3, a, 1, 0.8, 0.1)
    answer(split3, b, 2, -0.6, -0.2)
    answer(split3, c, 10)  # No-Face: no point
    flag(split3, Flag.Reason.ANNOTATOR_VS_ANNOTATOR, key="x")
    resolved = flag(split3, Flag.Reason.OUTSIDE_REGION, key="y")
    Flag.objects.filter(pk=resolved.pk).update(status=Flag.Status.RESOLVED)
    gold = make_face(split="val", required=1)
    answer(gold, b, 4, -0.5, 0.5)
    face_gold_set(face_id=gold.id, gold=True, label=Label(5, -0.4, 0.3))
    make_face(split="train")  # no answer: in neither table
    make_face(split="unassigned", required=1)
    return {"agreed": agreed.id, "split3": split3.id, "gold": gold.id, "users": (a, b, c)}


def read(path):
    return pq.read_table(path).to_pylist()


@pytest.mark.django_db
def test_every_answer_and_each_faces_soft_label_are_written_with_their_schema(answered, data_root):
    target = data_root / "export"
    printed = run("export_affectnet", str(target), "--answers", "--categories", "0-4,6-10")
    assert "answers.parquet: 6 answers of 3 annotators; faces.parquet: 3 faces" in printed

    answers = read(target / "answers.parquet")
    faces = {f["face_id"]: f for f in read(target / "faces.parquet")}
    assert sorted(faces) == sorted([answered["agreed"], answered["split3"], answered["gold"]])
    assert len(answers) == 6 and {a["answer_id"] for a in answers} == set(range(min(a["answer_id"] for a in answers),
                                                                               min(a["answer_id"] for a in answers) + 6))
    # Pseudonyms: 1..3, one per person, no usernames.
    a, b, c = answered["users"]
    by_face = {}
    for row in answers:
        by_face.setdefault(row["face_id"], []).append(row)
        assert row["annotator_name"] is None
    assert sorted({r["annotator"] for r in answers}) == [1, 2, 3]
    first, second = by_face[answered["agreed"]]
    assert (first["category"], first["valence"], first["arousal"], first["seconds_spent"]) == (3, 0.2, 0.4, 4.5)
    assert (first["suggestion_model"], first["suggestion_version"], first["suggestion_category"]) == (
        "resnet-affect", "1.2", 3)
    assert (first["suggestion_valence"], first["suggestion_arousal"], first["suggestion_confidence"]) == (0.2, 0.3, 0.7)
    assert first["kept_suggestion"] is True and first["shown_blind"] is False and first["guideline_version"] == 2
    assert second["shown_blind"] is True and second["suggestion_model"] is None and second["kept_suggestion"] is None
    assert second["outside_region_confirmed"] is True and second["guideline_version"] is None
    assert first["created_at"].tzinfo is not None and first["updated_at"] >= first["created_at"]
    # The same person has the same number on every face of the export.
    assert by_face[answered["gold"]][0]["annotator"] == second["annotator"]  # user b answered both
    [gold_answer] = by_face[answered["gold"]]
    assert (gold_answer["gold"], gold_answer["gold_category"], gold_answer["gold_valence"]) == (True, 5, -0.4)
    assert first["gold"] is False and first["gold_category"] is None
    no_face = [r for r in by_face[answered["split3"]] if r["category"] == 10][0]
    assert no_face["valence"] is None and no_face["arousal"] is None

    agreed = faces[answered["agreed"]]
    assert agreed["category_counts"] == [0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]
    assert agreed["category_distribution"][3] == 1.0
    assert agreed["valence_mean"] == pytest.approx(0.3) and agreed["valence_std"] == pytest.approx(0.1)
    assert agreed["arousal_mean"] == pytest.approx(0.2) and agreed["arousal_std"] == pytest.approx(0.2)
    assert (agreed["final_category"], agreed["final_source"], agreed["exported"], agreed["left_out"]) == (
        3, "agreement", True, None)
    assert agreed["final_valence"] == pytest.approx(0.3) and agreed["split"] == "train"
    split3 = faces[answered["split3"]]
    assert split3["category_counts"][1] == split3["category_counts"][2] == split3["category_counts"][10] == 1
    assert split3["category_distribution"][10] == pytest.approx(1 / 3)
    assert split3["valence_mean"] == pytest.approx(0.1) and split3["valence_std"] == pytest.approx(0.7)
    assert (split3["final_category"], split3["final_source"], split3["exported"]) == (None, None, False)
    assert split3["left_out"] == "open disagreement (needs review)" and split3["needs_review"] is True
    assert (split3["open_flags"], split3["resolved_flags"]) == (["annotator_vs_annotator"], ["outside_region"])
    gold = faces[answered["gold"]]
    # Gold's final label is its reference, Disgust (5), which --categories left out.
    assert (gold["final_category"], gold["final_source"], gold["gold"]) == (5, "gold", True)
    assert (gold["exported"], gold["left_out"], gold["split"]) == (False, "category not selected", "val")
    assert gold["valence_std"] == 0.0 and gold["open_flags"] == [] and gold["box_x"] is None

    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["answer_tables"] == {
        "files": ["answers.parquet", "faces.parquet"], "answers": 6, "faces": 3, "annotators": 3}


@pytest.mark.django_db
def test_schema_is_in_each_files_metadata(answered, data_root):
    target = data_root / "export"
    run("export_affectnet", str(target), "--answers")
    for name, columns in (("answers.parquet", answer_tables.ANSWER_COLUMNS), ("faces.parquet", answer_tables.FACE_COLUMNS)):
        schema = pq.read_schema(target / name)
        assert schema.names == [c[0] for c in columns]
        described = answer_tables.schema_description(schema)
        assert described["category_names"][10] == "No-Face" and described["schema_version"] == 1
        assert list(described["columns"]) == schema.names
        assert all(described["columns"][c[0]]["description"] or c[3] == "" for c in columns)
        assert described["columns"]["valence"if name == "answers.parquet" else "valence_mean"]["nullable"] is True


@pytest.mark.django_db
def test_names_only_when_asked_and_pseudonyms_differ_between_exports(answered, data_root):
    root = data_root
    run("export_affectnet", str(root / "named"), "--answers", "--names")
    named = read(root / "named" / "answers.parquet")
    assert {r["annotator_name"] for r in named} == {"ann1", "ann2", "rev1"}
    by_name = {}
    for row in named:
        by_name.setdefault(row["annotator_name"], set()).add(row["annotator"])
    assert all(len(numbers) == 1 for numbers in by_name.values())  # stable within the export
    # Drawn anew each export: over a few exports, some person gets another number.
    seen = set()
    for i in range(8):
        run("export_affectnet", str(root / f"e{i}"), "--answers")
        rows = read(root / f"e{i}" / "answers.parquet")
        seen.add(tuple(r["annotator"] for r in sorted(rows, key=lambda r: r["answer_id"])))
    assert len(seen) > 1
    with pytest.raises(CommandError, match="--names: only with --answers"):
        run("export_affectnet", str(root / "x"), "--names")


@pytest.mark.django_db
def test_without_answers_no_tables(answered, data_root):
    target = data_root / "plain"
    run("export_affectnet", str(target))
    assert not (target / "answers.parquet").exists()
    assert json.loads((target / "manifest.json").read_text())["answer_tables"] is None


@pytest.mark.django_db
def test_tables_are_read_in_chunks_and_written_in_row_groups(answered, data_root):
    target = data_root
    # One face a chunk, two rows a row group: faces 2 + 1; answers (2, 3, 1 a face) 2 + 3 + 1.
    result = answer_export.answer_tables_write(
        target, splits=["train", "val"], left_out=lambda face: None, chunk_size=1, row_group_rows=2)
    assert result["faces"] == 3 and result["answers"] == 6
    faces_file, answers_file = pq.ParquetFile(target / "faces.parquet"), pq.ParquetFile(target / "answers.parquet")
    assert [faces_file.metadata.row_group(i).num_rows for i in range(faces_file.num_row_groups)] == [2, 1]
    assert [answers_file.metadata.row_group(i).num_rows for i in range(answers_file.num_row_groups)] == [2, 3, 1]
    faces = read(target / "faces.parquet")
    assert [f["face_id"] for f in faces] == sorted(f["face_id"] for f in faces)
    assert all(not math.isnan(f["valence_mean"]) for f in faces)
    # The same rows as one chunk and one row group.
    (data_root / "one").mkdir()
    answer_export.answer_tables_write(data_root / "one", splits=["train", "val"], left_out=lambda face: None)
    assert pq.ParquetFile(data_root / "one" / "faces.parquet").num_row_groups == 1
    def without_pseudonyms(rows):  # drawn anew for each export
        return [{k: v for k, v in row.items() if k != "annotator"} for row in rows]

    assert without_pseudonyms(read(data_root / "one" / "answers.parquet")) == without_pseudonyms(
        read(target / "answers.parquet"))


def test_readme_documents_the_schema_the_code_writes():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert answer_tables.readme_table(answer_tables.ANSWER_COLUMNS) in readme
    assert answer_tables.readme_table(answer_tables.FACE_COLUMNS) in readme
