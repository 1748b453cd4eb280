"""The real `manage.py train_suggester` in its own process on a tiny, unbalanced train split (10 faces of 3
of the 8 categories): it finishes at every batch size (it crashed in backward before), refuses data with
one category, and prints a resume command that carries every option of the run."""
import io
import shlex
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotator.faces.store import NewFace, faces_store
from annotator.models import Face, Suggester
from tests.process_helpers import manage_command, manage_env

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "annotator" / "sample_faces"
# (crop, category, valence, arousal): 4 Happiness, 4 Neutral, 2 Sadness.
UNBALANCED = (
    [(SAMPLES / f"astronaut_{i}.jpg", 1, 0.62, 0.28) for i in range(4)]
    + [(SAMPLES / f"grace_hopper_{i}.jpg", 0, 0.05, -0.15) for i in range(4)]
    + [(ROOT / "tests" / "data" / "biden_224.jpg", 2, -0.5, -0.3),
       (ROOT / "tests" / "data" / "speaking_obama_224.jpg", 2, -0.5, -0.3)]
)


def store(items, split="train"):
    for path, category, valence, arousal in items:
        face = faces_store([NewFace(Path(path).read_bytes(), split=split)])[0]
        Face.objects.filter(pk=face.pk).update(final_category=category, final_valence=valence, final_arousal=arousal,
                                               final_source="import")


def train(tmp_path, *args, timeout=600):
    """Run train_suggester as the user would, its threads not limited (no OMP_NUM_THREADS)."""
    env = manage_env(tmp_path, CHECKPOINT_DIR=tmp_path / "checkpoints", SUGGEST_ON_ACTIVATE=0)
    env.pop("OMP_NUM_THREADS", None)
    return subprocess.run(manage_command("train_suggester", "--no-progress", *args), env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("batch_size", [8, 16, 32])
def test_a_tiny_unbalanced_split_trains_in_a_process_of_its_own(data_root, tmp_path, batch_size):
    store(UNBALANCED)
    done = train(tmp_path, "--epochs", "1", "--batch-size", str(batch_size), "--categories", "8", "--depth", "10",
                 "--width", "16", "--input-size", "96", "--name", "tiny", "--model-version", f"b{batch_size}")
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "10 training faces" in done.stdout
    suggester = Suggester.objects.get(name="tiny", version=f"b{batch_size}")
    history = suggester.training["history"]
    assert len(history) == 1 and history[0]["loss"] == history[0]["loss"]  # finite, not NaN
    assert suggester.training["train"]["per_category"] == {**{name: 0 for name in suggester.training["train"][
        "per_category"]}, "Neutral": 4, "Happiness": 4, "Sadness": 2}


@pytest.mark.django_db(transaction=True)
def test_one_category_is_refused_with_a_clear_message(data_root, tmp_path):
    store(UNBALANCED[:4])
    done = train(tmp_path, "--epochs", "1", "--categories", "8", "--name", "one")
    assert done.returncode != 0
    assert "name 1 of the 8 categories the network has (Happiness); a classifier needs at least two" in done.stderr
    assert not Suggester.objects.exists()


@pytest.mark.django_db
def test_the_resume_command_printed_at_ctrl_c_carries_every_option(data_root, tmp_path, settings, monkeypatch):
    from annotator.training import trainer

    settings.CHECKPOINT_DIR = tmp_path / "checkpoints"
    store(UNBALANCED)
    real_loss, steps = trainer.expression_loss, []

    def stopped_in_the_second_epoch(*args, **kwargs):
        steps.append(1)
        if len(steps) == 2:  # 10 faces, batch 8: one step an epoch
            raise KeyboardInterrupt
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(trainer, "expression_loss", stopped_in_the_second_epoch)
    given = {"--epochs": "3", "--batch-size": "8", "--lr": "0.002", "--seed": "5", "--depth": "10", "--width": "8",
             "--input-size": "64", "--limit": "10", "--categories": "8", "--name": "r", "--model-version": "v1"}
    with pytest.raises(CommandError, match="resume with: ") as stopped:
        call_command("train_suggester", *[w for pair in given.items() for w in pair], "--no-progress",
                     stdout=io.StringIO())
    words = shlex.split(str(stopped.value).split("resume with: ", 1)[1])
    assert words[:3] == ["python", "manage.py", "train_suggester"] and "--resume" in words and "--no-progress" in words
    for option, value in given.items():
        assert words[words.index(option) + 1] == value, option
    monkeypatch.undo()
    out = io.StringIO()
    call_command(*words[2:], stdout=out)
    assert "resuming" in out.getvalue() and "after epoch 1" in out.getvalue()
    suggester = Suggester.objects.get(name="r", version="v1")
    assert [h["epoch"] for h in suggester.training["history"]] == [1, 2, 3]
    assert suggester.training["options"] == {"epochs": 3, "batch_size": 8, "lr": 0.002, "seed": 5, "limit": 10,
                                             "depth": 10, "width": 8, "input_size": 64}


def test_the_network_sees_one_memory_layout_on_the_cpu():
    """Crops (N, H, W, 3) permuted to (N, 3, H, W) kept channels_last strides: every CPU conv then ran beside
    NCHW weights in oneDNN's mixed-layout kernels. The input is plain NCHW, and so is what the convs give."""
    import torch

    from annotator.suggestions.inference.network import ExpressionNet, NetConfig

    model = ExpressionNet(NetConfig(num_classes=8, width=8, layers=(1, 1, 1, 1), input_size=64))
    for side in (64, 96):  # as it is, and resized
        x = model.preprocess(torch.zeros(2, side, side, 3, dtype=torch.uint8))
        assert x.shape == (2, 3, 64, 64) and x.is_contiguous()
        assert model.backbone.conv1(x).is_contiguous()


@pytest.mark.django_db
def test_the_table_after_training_leaves_out_labels_that_may_echo_a_suggestion(data_root, tmp_path, settings):
    settings.CHECKPOINT_DIR = tmp_path / "checkpoints"
    store(UNBALANCED)
    val = [(SAMPLES / f"astronaut_{i}.jpg", 1, 0.62, 0.28) for i in (4, 5)]
    val += [(SAMPLES / f"grace_hopper_{i}.jpg", 0, 0.05, -0.15) for i in (4, 5)]
    store(val, split="val")
    # Two of them rest on one answer given with a suggestion in view (no blind answer): left out.
    Face.objects.filter(split="val", final_category=0).update(final_source="single")
    out = io.StringIO()
    call_command("train_suggester", "--epochs", "1", "--batch-size", "8", "--categories", "8", "--depth", "10",
                 "--width", "8", "--input-size", "64", "--name", "v", "--no-progress", stdout=out)
    text = out.getvalue()
    assert "2 validation faces (2 more left out: their label rests on answers given with a suggestion in view)" in text
    assert "Categorical model (n=2)" in text and "95% interval" in text
    assert "* not meaningful: fewer than 30 faces" in text
    assert Suggester.objects.get(name="v").evaluation["categorical"]["n"] == 2
