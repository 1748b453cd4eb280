"""add_suggester --activate --project and suggest --project with two projects: each project has its own
active model (the files may be shared), and suggest fills each project's gaps with its own model."""
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotator.faces.store import NewFace, faces_store
from annotator.models import Project, Suggester, Suggestion
from annotator.projects.services import project_create
from tests.suggestions.test_inference import export_tiny_onnx

DATA = Path(__file__).resolve().parents[1] / "data"
NAMES = ("smiling_obama_224.jpg", "biden_224.jpg", "speaking_obama_224.jpg")
LABELS = '["Neutral","Happiness","Sadness","Surprise","Fear","Disgust","Anger","Contempt"]'


@pytest.mark.django_db
def test_each_project_gets_suggestions_from_its_own_active_model(data_root, tmp_path, settings):
    settings.SUGGEST_ON_ACTIVATE = False
    default = Project.objects.default()
    pilot = project_create(slug="pilot", name="Pilot")
    main_faces = faces_store([NewFace((DATA / n).read_bytes(), source=n) for n in NAMES], project=default)
    pilot_faces = faces_store([NewFace((DATA / n).read_bytes(), source=n) for n in NAMES[:2]], project=pilot)
    export_tiny_onnx(tmp_path / "m.onnx", with_va=False)
    settings.SUGGEST_ONNX_CONFIG = {"input_size": 64}
    add = ["add_suggester", "tiny", "1", "--path", str(tmp_path / "m.onnx"), "--config", f'{{"labels": {LABELS}}}',
           "--activate"]
    with pytest.raises(CommandError, match=r"choose a project \(default, pilot\)"):
        call_command(*add, stdout=io.StringIO())
    assert not Suggester.objects.filter(name="tiny").exists()  # refused before anything was stored
    call_command(*add, "--project", "pilot", stdout=io.StringIO())
    tiny = Suggester.objects.get(name="tiny")
    pilot.refresh_from_db()
    default.refresh_from_db()
    assert pilot.active_suggester == tiny and default.active_suggester != tiny

    out = io.StringIO()
    call_command("suggest", "--now", "--project", "pilot", stdout=out)
    assert out.getvalue().startswith("pilot: ") and "2 of 2 faces have a suggestion" in out.getvalue()
    assert set(Suggestion.objects.values_list("face_id", "suggester_id")) == {(f.id, tiny.id) for f in pilot_faces}

    out = io.StringIO()
    call_command("suggest", "--now", stdout=out)  # every project, each with its own model
    default.refresh_from_db()
    builtin = default.active_suggester
    assert builtin is not None and builtin != tiny
    assert set(Suggestion.objects.filter(suggester=builtin).values_list("face_id", flat=True)) == {
        f.id for f in main_faces}
    assert Suggestion.objects.filter(suggester=tiny).count() == 2  # nothing more for pilot, nothing for default
    with pytest.raises(CommandError, match="no project 'nope'"):
        call_command("suggest", "--project", "nope", stdout=io.StringIO())
