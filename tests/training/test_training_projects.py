"""train_suggester with several projects: it draws on the projects named (a crop in two of them counts
once), leaves the others out, and --activate makes the model active in those projects only."""
import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from annotator.faces.store import NewFace, faces_store
from annotator.models import Face, Project, Suggester
from annotator.projects.services import project_create
from annotator.training.data import samples_from_folder

SAMPLE_FACES = Path(__file__).resolve().parents[2] / "annotator" / "sample_faces"
TINY = dict(epochs=1, batch_size=8, categories=11, depth=10, width=8, input_size=64, no_progress=True)


def store(project, samples, first_index=0, reencode=False):
    for i, sample in enumerate(samples, start=first_index):
        data = Path(sample.image).read_bytes()
        if reencode:  # other bytes, so another crop
            out = io.BytesIO()
            Image.open(io.BytesIO(data)).convert("RGB").save(out, format="JPEG", quality=40)
            data = out.getvalue()
        [face] = faces_store([NewFace(data, split="val" if i % 4 == 0 else "train")], project=project)
        Face.objects.filter(pk=face.pk).update(final_category=sample.category, final_valence=sample.valence,
                                               final_arousal=sample.arousal, final_source="import")


@pytest.fixture
def three_projects(db, data_root, tmp_path, settings):
    settings.CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.SUGGEST_ON_ACTIVATE = False
    faces = samples_from_folder(SAMPLE_FACES)
    assert len(faces) == 24
    Project.objects.default()
    a, b, c = (project_create(slug=s, name=s.title()) for s in ("lab-a", "lab-b", "lab-c"))
    store(a, faces[:12])
    store(b, faces[8:], first_index=8)  # faces 8-11 are in both a and b: the same crops
    store(c, faces[:8], reencode=True)  # other crops: in the instance, not in the training
    return a, b, c


def test_train_suggester_draws_on_the_projects_named_and_activates_in_them(three_projects):
    a, b, c = three_projects
    out = io.StringIO()
    call_command("train_suggester", project=["lab-a", "lab-b"], activate=True, name="net", model_version="ab",
                 stdout=out, **TINY)
    model = Suggester.objects.get(name="net", version="ab")
    # 24 distinct crops of a and b (8-11 counted once): 18 train, 6 val; c's 8 left out.
    assert model.training["train"]["faces"] == 18 and model.training["val"]["faces"] == 6
    for project in (a, b, c):
        project.refresh_from_db()
    assert a.active_suggester == model and b.active_suggester == model and c.active_suggester is None
    assert "now the active suggester of lab-a" in out.getvalue() and "of lab-b" in out.getvalue()

    call_command("train_suggester", name="net", model_version="all", stdout=io.StringIO(), **TINY)
    everything = Suggester.objects.get(name="net", version="all")
    assert everything.training["train"]["faces"] == 18 + 6  # c's 8 crops: 6 train, 2 val
    assert everything.training["val"]["faces"] == 6 + 2

    call_command("train_suggester", project=["lab-b"], name="net", model_version="b", stdout=io.StringIO(), **TINY)
    assert Suggester.objects.get(name="net", version="b").training["train"]["faces"] == 12  # 16 faces, 4 val


def test_train_suggester_activate_with_several_projects_asks_which(three_projects):
    with pytest.raises(CommandError, match=r"choose a project \(default, lab-a, lab-b, lab-c\)"):
        call_command("train_suggester", activate=True, name="net", model_version="x", stdout=io.StringIO(), **TINY)
    with pytest.raises(CommandError, match="no project 'nope'"):
        call_command("train_suggester", project=["nope"], name="net", model_version="x", stdout=io.StringIO(), **TINY)
    assert not Suggester.objects.filter(name="net").exists()
