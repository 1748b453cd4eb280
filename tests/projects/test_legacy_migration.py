"""Migrations 0013-0015 on a copy of a database that main made before projects (tests/data/legacy_db):
everything lands in one "default" project with the settings of the day, and the instance works on."""
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.process_helpers import manage_command, manage_env

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy_db" / "main-453e1d7.sqlite3"

AFTER = r"""
import json, uuid
from django.contrib.auth.models import User
from annotator.models import (Annotation, AnnotatorStanding, Face, Guideline, GoldReference, Project, ReviewerRequest,
                              Suggester)
from annotator.queue.services import annotation_submit, queue_claim
from reviews.models import Decision, Flag, GoldItem
p = Project.objects.get()
out = {
    "project": [p.slug, p.annotators_per_face, p.overlap_share, p.blind_share, p.gold_share, p.queue_order,
                p.calibration_faces, p.region_check, p.export_categories],
    "active": str(p.active_suggester), "members": sorted(p.members.values_list("username", flat=True)),
    "faces": [Face.objects.count(), Face.objects.filter(project=p).count()],
    "answers": Annotation.objects.count(), "flags": Flag.objects.count(), "decisions": Decision.objects.count(),
    "gold": [GoldItem.objects.count(), GoldReference.objects.count(), Face.objects.filter(is_gold=True).count()],
    "suggesters": Suggester.objects.count(), "requests": ReviewerRequest.objects.count(),
    "guidelines": [Guideline.objects.filter(project=p).count(), Guideline.objects.count()],
    "standings": [AnnotatorStanding.objects.count(), AnnotatorStanding.objects.filter(project=p).count()],
    "history": p.history.count(),
}
# The migrated instance works on: a new face comes in, and an annotator claims and answers it.
from pathlib import Path
from annotator.faces.store import NewFace, faces_store
faces_store([NewFace(Path("annotator/sample_faces/coffee_0.jpg").read_bytes(), split="val")])
ann = User.objects.get(username="ann3")
claimed = queue_claim(annotator=ann, count=1)
if claimed:
    annotation_submit(face=claimed[0].face_id, annotator=ann, category=0, valence=0.0, arousal=0.0,
                      client_key=uuid.uuid4())
out["claimed_and_answered"] = len(claimed)
out["answers_after"] = Annotation.objects.count()
print("RESULT " + json.dumps(out))
"""


def _legacy_counts(path) -> dict:
    with sqlite3.connect(path) as db:
        one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "faces": one("select count(*) from annotator_face"),
            "answers": one("select count(*) from annotator_annotation"),
            "flags": one("select count(*) from reviews_flag"),
            "decisions": one("select count(*) from reviews_decision"),
            "gold": one("select count(*) from reviews_golditem"),
            "suggesters": one("select count(*) from annotator_suggester"),
            "active": one("select name || ' ' || version from annotator_suggester where is_active"),
            "requests": one("select count(*) from annotator_reviewerrequest"),
            "guidelines": one("select count(*) from annotator_guideline"),
            "standings": one("select count(*) from annotator_annotatorstanding"),
        }


def test_a_database_made_before_projects_migrates_into_the_default_project(tmp_path):
    copy = tmp_path / "legacy.sqlite3"
    shutil.copy(LEGACY, copy)
    before = _legacy_counts(copy)
    assert before["faces"] and before["answers"] and before["flags"] and before["decisions"] and before["gold"]
    env = manage_env(tmp_path, DATABASE_URL=f"sqlite:///{copy}", ANNOTATORS_PER_FACE=2, OVERLAP_SHARE=0.25,
                     BLIND_SHARE=0.3, GOLD_SHARE=0.07, QUEUE_ORDER="arrival", CALIBRATION_FACES=0,
                     REGION_CHECK=0, EXPORT_CATEGORIES="0-7")
    migrate = subprocess.run(manage_command("migrate", "--no-input"), env=env, capture_output=True, text=True,
                             timeout=300)
    assert migrate.returncode == 0, migrate.stderr
    assert "0015_projects_required" in migrate.stdout
    shell = subprocess.run(manage_command("shell", "-c", AFTER), env=env, capture_output=True, text=True, timeout=300,
                           cwd=LEGACY.parents[3])
    assert shell.returncode == 0, shell.stderr
    after = json.loads(shell.stdout.split("RESULT ", 1)[1])
    # Today's settings (this run's environment) became the default project's policy.
    assert after["project"] == ["default", 2, 0.25, 0.3, 0.07, "arrival", 0, False, "0-7"]
    assert after["active"] == before["active"]
    assert after["members"] == ["ann1", "ann2", "ann3", "lead", "rita"]
    assert after["faces"] == [before["faces"], before["faces"]]
    for key in ("answers", "flags", "decisions", "suggesters", "requests"):
        assert after[key] == before[key], key
    assert after["gold"] == [before["gold"]] * 3
    assert after["guidelines"] == [before["guidelines"]] * 2
    assert after["standings"] == [before["standings"]] * 2
    assert after["history"] == 0  # made by the migration, not by a person
    assert after["claimed_and_answered"] == 1 and after["answers_after"] == before["answers"] + 1


@pytest.mark.parametrize("table", ["annotator_project", "annotator_projectmembership"])
def test_the_legacy_copy_is_from_before_projects(table):
    with sqlite3.connect(LEGACY) as db:
        assert db.execute("select count(*) from sqlite_master where name = ?", [table]).fetchone()[0] == 0
