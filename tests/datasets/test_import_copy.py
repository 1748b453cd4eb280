"""On PostgreSQL an import inserts its faces and answers with COPY, each face with its final label and
answer count in its first row; the rows must be the ones the ORM's way (bulk_create, SQLite's way) stores."""
import datetime

import pytest
from django.db import connection
from django.utils import timezone

from annotator.datasets.importing import affectnet_folder_import
from annotator.faces import store
from annotator.models import Annotation, Face, FinalSource, Project
from annotator.projects.services import project_create
from tests.affectnet_helpers import write_face

# Per face: category, valence, arousal (9 and 10 have no valence/arousal: AffectNet's -2).
LABELS = [(0, 0.0, 0.0), (3, -0.512345, 0.25), (1, 0.999999, -1.0), (9, None, None), (10, None, None),
          (6, -0.1, 0.7)]
FACE_SKIP = {"id", "project", "created_at", "final_at"}  # differ by project, or the moment of the insert
ANSWER_SKIP = {"id", "face", "created_at", "updated_at"}


def write_set(root):
    for stem, (category, valence, arousal) in enumerate(LABELS, start=1):
        write_face(root / "labelled" / "train_set", stem, category=category, valence=valence, arousal=arousal)
    for stem in range(101, 104):
        write_face(root / "unlabelled" / "val_set", stem, labels=False)


def import_into(root, project):
    reports = [affectnet_folder_import(path=root / "labelled", labels=True, progress=False, workers=1,
                                       project=project),
               affectnet_folder_import(path=root / "unlabelled", labels=False, progress=False, workers=1,
                                       project=project)]
    assert [(r.imported, r.annotations, r.skipped) for r in reports] == [(len(LABELS), len(LABELS), []), (3, 0, [])]


def face_rows(project) -> dict:
    names = [f.name for f in Face._meta.concrete_fields if f.name not in FACE_SKIP]
    return {row["content_hash"]: row for row in Face.objects.filter(project=project).values(*names)}


def answer_rows(project) -> dict:
    names = [f.name for f in Annotation._meta.concrete_fields if f.name not in ANSWER_SKIP]
    return {row.pop("face__content_hash"): row
            for row in Annotation.objects.filter(face__project=project).values("face__content_hash", *names)}


@pytest.mark.postgres
@pytest.mark.django_db
def test_copy_stores_the_rows_the_orm_stores(data_root, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's: set DATABASE_URL=postgres://...")
    root = data_root / "set"
    write_set(root)
    by_copy = Project.objects.default()
    by_orm = project_create(slug="orm", name="ORM")
    before = timezone.now()
    import_into(root, by_copy)
    monkeypatch.setattr(store, "rows_by_copy", lambda: False)
    import_into(root, by_orm)
    after = timezone.now()

    copied, stored = face_rows(by_copy), face_rows(by_orm)
    assert len(copied) == len(LABELS) + 3 and copied == stored
    copied_answers, stored_answers = answer_rows(by_copy), answer_rows(by_orm)
    assert len(copied_answers) == len(LABELS) and copied_answers == stored_answers
    # The values themselves, not only their agreement: each labelled face has its one answer and its
    # final label from the import; an unlabelled face neither.
    labelled = Face.objects.filter(project=by_copy, id__lte=len(LABELS)).order_by("id")
    assert [(f.final_category, f.final_valence, f.final_arousal) for f in labelled] == \
        [(c, v, a) for c, v, a in LABELS]
    assert {(f.answer_count, f.final_source) for f in labelled} == {(1, FinalSource.IMPORT)}
    assert all(f.final_at == f.created_at and before <= f.created_at <= after for f in labelled)
    unlabelled = Face.objects.filter(project=by_copy, id__gt=len(LABELS))
    assert {(f.answer_count, f.final_category, f.final_source, f.final_at) for f in unlabelled} == \
        {(0, None, FinalSource.NONE, None)}
    for answer in Annotation.objects.filter(face__project=by_copy):
        assert answer.imported and answer.seconds_spent == 0.0 and answer.annotator.username == "affectnet-import"
        assert before <= answer.created_at <= after and abs(answer.updated_at - answer.created_at) < \
            datetime.timedelta(seconds=1)
        assert (answer.category, answer.valence, answer.arousal) == \
            (answer.face.final_category, answer.face.final_valence, answer.face.final_arousal)
    # Neither way writes a history row for an imported answer.
    assert Annotation.history.count() == 0


def _face_rows_planned() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [Face._meta.db_table])
        return cursor.fetchone()[0]


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_big_import_refreshes_the_planners_statistics(data_root, monkeypatch):
    """Past ANALYZE_AFTER faces an import ANALYZEs what it filled (the planner's row count follows);
    below it, autovacuum is left to it."""
    if connection.vendor != "postgresql":
        pytest.skip("the planner's statistics are PostgreSQL's: set DATABASE_URL=postgres://...")
    from annotator.datasets import importing

    root = data_root / "set"
    write_set(root)
    monkeypatch.setattr(importing, "ANALYZE_AFTER", len(LABELS) + 1)
    affectnet_folder_import(path=root / "labelled", labels=True, progress=False, workers=1)
    assert _face_rows_planned() < len(LABELS)  # not analyzed: the table's count as it was
    monkeypatch.setattr(importing, "ANALYZE_AFTER", 3)
    affectnet_folder_import(path=root / "unlabelled", labels=False, progress=False, workers=1)
    assert _face_rows_planned() == len(LABELS) + 3
