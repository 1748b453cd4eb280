"""Decided labels stay final: an imported label or a reviewer's decision is exported whatever flags
are raised about it later; a flag withholds only an agreed answer of this tool's annotators."""
import io
import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from annotator.domain.categories import ANGER, HAPPINESS, NEUTRAL, SADNESS
from annotator.models import Annotation, Face, FinalSource
from reviews.flagging import face_flags_evaluate
from reviews.models import Flag
from reviews.services import decision_make
from tests.affectnet_helpers import write_face
from tests.review_factories import answer, make_face, suggest, suggester


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def labelled_folder(root, count):
    """An AffectNet folder whose labels the flag rules question: every third point lies outside its
    category's region (Happiness with a negative valence), the rest inside."""
    for i in range(1, count + 1):
        if i % 3 == 0:
            write_face(root / "train_set", i, category=HAPPINESS, valence=-0.8, arousal=-0.5)
        else:
            write_face(root / "train_set", i, category=NEUTRAL, valence=0.0, arousal=0.0)


@pytest.mark.django_db
def test_imported_labels_are_still_exported_after_suggestions_and_flags(data_root):
    labelled_folder(data_root / "release", 30)
    assert "imported 30 faces (30 annotations)" in run("import_affectnet", str(data_root / "release"),
                                                      "--labels", "annotations", "--no-progress")
    assert "wrote 30 faces" in run("export_affectnet", str(data_root / "out1"), "--no-progress")
    run("suggest", "--now")
    assert "30 faces re-evaluated" in run("refresh_flags")

    printed = run("export_affectnet", str(data_root / "out2"), "--no-progress")
    assert "wrote 30 faces" in printed and "left out" not in printed

    flags = Flag.objects.filter(status=Flag.Status.OPEN)
    assert flags.filter(reason=Flag.Reason.IMPORTED_LABEL).count() >= 10  # the outside-region points at least
    assert not flags.exclude(reason=Flag.Reason.IMPORTED_LABEL).exists()
    assert all(f.severity < 0.3 for f in flags)  # after every flag about this tool's answers
    assert {f.evidence["cause"] for f in flags} >= {"outside_region"}
    manifest = json.loads((data_root / "out2" / "manifest.json").read_text())
    flagged = Face.objects.filter(needs_review=True).count()
    assert flagged >= 10 and manifest["exported_with_open_flags"] == flagged
    assert f"{flagged} exported faces carry open flags" in printed
    assert manifest["final_label_sources"] == {FinalSource.IMPORT: 30}
    assert manifest["left_out"]["open disagreement (needs review)"] == 0


@pytest.mark.django_db
def test_a_reviewer_changes_an_imported_label_and_that_decision_is_final(data_root, reviewer_user):
    labelled_folder(data_root / "release", 3)
    run("import_affectnet", str(data_root / "release"), "--labels", "annotations", "--no-progress")
    face = Face.objects.get(pk=3)
    face_flags_evaluate(face_id=face.id)
    assert Face.objects.get(pk=3).final_source == FinalSource.IMPORT
    decision_make(face=face, reviewer=reviewer_user, category=SADNESS, valence=-0.6, arousal=-0.3)
    face.refresh_from_db()
    assert (face.final_category, face.final_source, face.needs_review) == (SADNESS, FinalSource.REVIEW, False)


@pytest.mark.django_db
def test_an_open_flag_withholds_an_agreed_answer_but_not_a_reviewed_label(
    data_root, annotator_user, second_annotator, reviewer_user, settings
):
    settings.FLAG_MODEL_MIN_PROBABILITY = 0.6
    agreed, reviewed = make_face(required=1), make_face(required=1)
    for face in (agreed, reviewed):
        answer(face, annotator_user, HAPPINESS, 0.6, 0.3)
    decision_make(face=reviewed, reviewer=reviewer_user, category=HAPPINESS, valence=0.6, arousal=0.3)
    model = suggester()
    for face in (agreed, reviewed):
        suggest(face, model, ANGER, -0.5, 0.6, confidence=0.95)  # a new model disagrees afterwards
        face_flags_evaluate(face_id=face.id)
    agreed.refresh_from_db()
    reviewed.refresh_from_db()
    assert agreed.needs_review and agreed.final_category is None  # withheld until a reviewer decides
    assert reviewed.needs_review and (reviewed.final_category, reviewed.final_source) == (HAPPINESS, "review")
    assert Flag.objects.get(face=reviewed, status=Flag.Status.OPEN).reason == Flag.Reason.ANNOTATOR_VS_MODEL


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_back_imported_labels_that_flags_withheld(data_root):
    """Before 0005 an imported label was an agreed answer, and a flag withheld it: migrating restores it."""
    executor = MigrationExecutor(connection)
    executor.migrate([("annotator", "0004_merge_0003_faces_photo_0003_queue_open_faces"),
                      ("reviews", "0002_worker_flag_check")])
    apps = executor.loader.project_state([("annotator", "0004_merge_0003_faces_photo_0003_queue_open_faces")]).apps
    OldUser, OldFace, OldAnnotation = (apps.get_model(*m) for m in
                                       (("auth", "User"), ("annotator", "Face"), ("annotator", "Annotation")))
    importer = OldUser.objects.create(username="affectnet-import", password="!unusable")
    person = OldUser.objects.create(username="ann", password="pbkdf2_sha256$1$x$y")
    withheld = OldFace.objects.create(image="a.jpg", content_hash="a", answer_count=1, needs_review=True)
    OldAnnotation.objects.create(face=withheld, annotator=importer, category=HAPPINESS, valence=-0.8, arousal=-0.5)
    own = OldFace.objects.create(image="b.jpg", content_hash="b", answer_count=1, needs_review=True)
    OldAnnotation.objects.create(face=own, annotator=person, category=SADNESS, valence=-0.5, arousal=-0.2)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    withheld, own = Face.objects.get(pk=withheld.pk), Face.objects.get(pk=own.pk)
    assert (withheld.final_category, withheld.final_valence, withheld.final_source) == (HAPPINESS, -0.8, "import")
    assert Annotation.objects.get(face=withheld).imported is True
    assert (own.final_category, own.final_source) == (None, "")  # an annotator's answer stays withheld
    assert Annotation.objects.get(face=own).imported is False
