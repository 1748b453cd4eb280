"""Checkpoints are safetensors with their config in the metadata; older .pt checkpoints still load and
resume (torch.load with weights_only=True only); a pickle of objects, a damaged or a foreign file is
refused with an error that names it."""
import io
import json
import os

import numpy as np
import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from annotator.suggestions.inference.checkpoint import (
    CheckpointError,
    CheckpointModel,
    checkpoint_config,
    checkpoint_load,
    checkpoint_save,
    predict_batches,
)
from annotator.suggestions.inference.network import ExpressionNet, NetConfig
from annotator.training.samples import TrainingError
from annotator.training.trainer import FINAL, LAST, LEGACY_LAST, TrainConfig, train
from tests.training.test_training import TINY, crops_of, faces, store_sample_faces  # noqa: F401 (fixture)


def metadata_of(path):
    with safe_open(str(path), framework="pt") as fh:
        return fh.metadata()


def old_style_save(path, data):
    """Write a checkpoint as the project did before safetensors: torch.save of the whole dict."""
    torch.save(data, path)


def tiny_run(faces, out_dir, **kwargs):  # noqa: F811
    net = NetConfig(num_classes=11, **TINY)
    plan = TrainConfig(epochs=kwargs.pop("epochs", 1), batch_size=8, workers=0)
    return train(faces, out_dir=out_dir, progress=False, name="n", version="1", net_config=net, train_config=plan,
                 log=lambda _: None, **kwargs)


def test_training_writes_safetensors_that_plain_safetensors_reads(faces, tmp_path):  # noqa: F811
    result = tiny_run(faces, tmp_path)
    assert result.checkpoint == tmp_path / FINAL and result.checkpoint.suffix == ".safetensors"
    assert sorted(p.name for p in tmp_path.iterdir()) == [LAST, FINAL]  # no .pt, no temporary left
    for path in (tmp_path / LAST, tmp_path / FINAL):
        assert not path.read_bytes().startswith(b"PK")  # not a torch.save zip (a pickle inside)
    # Another tool reads the final file with safetensors alone: the tensors are the plain state_dict,
    # the config (labels, input size, normalisation) is JSON in the metadata.
    meta = metadata_of(result.checkpoint)
    config = json.loads(meta["config"])
    assert meta["format"] == "annotator-expression-net"
    assert config["labels"] == list(range(11)) and config["input_size"] == 64
    assert config["preprocessing"]["mean"] == list(NetConfig().mean)
    net = ExpressionNet(NetConfig.from_dict(config))
    net.load_state_dict(load_file(result.checkpoint))  # strict: every tensor, nothing more
    assert json.loads(meta["state"])["history"][0]["epoch"] == 1
    # The epoch checkpoint carries the optimizer's moments and the random state beside the model.
    last = load_file(tmp_path / LAST)
    assert "@/optimizer/state/0/exp_avg" in last and "@/rng/torch" in last
    state = checkpoint_load(tmp_path / LAST)
    assert isinstance(next(iter(state["optimizer"]["state"])), int)  # param ids stay ints, as torch needs
    assert state["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert state["epoch"] == 1 and state["rng"]["torch"].dtype == torch.uint8


def test_an_old_pt_checkpoint_still_serves_the_same_predictions(faces, tmp_path):  # noqa: F811
    torch.manual_seed(5)
    model = ExpressionNet(NetConfig(num_classes=8, **TINY))
    config = checkpoint_config(model.config, name="old", version="2025")
    old_style_save(tmp_path / "model.pt", {"format": "annotator-expression-net", "config": config,
                                           "model": model.state_dict(), "history": [], "data": {}})
    crops = crops_of(faces[:4])
    expected, _ = predict_batches(model, crops, device=torch.device("cpu"))
    served = CheckpointModel(tmp_path / "model.pt", device="cpu")
    np.testing.assert_allclose(served.predict(crops).probabilities[:, :8], expected, rtol=1e-6, atol=1e-7)
    # The same network saved now is a safetensors file that serves the same answers.
    new = checkpoint_save(tmp_path / "model.safetensors", model=model, config=config)
    np.testing.assert_array_equal(CheckpointModel(new, device="cpu").predict(crops).probabilities,
                                  served.predict(crops).probabilities)


@pytest.mark.django_db
def test_train_suggester_resumes_a_run_checkpointed_as_pt(faces, data_root, tmp_path, settings):  # noqa: F811
    from annotator.models import Suggester

    settings.CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.SUGGEST_ON_ACTIVATE = False
    store_sample_faces(faces, ["train"] * len(faces))
    tiny = dict(batch_size=8, categories=11, depth=10, width=8, input_size=64, name="net", no_progress=True)
    # Two runs of one epoch, each resumed for a second: "new" as written now, "old" from a .pt.
    call_command("train_suggester", epochs=1, model_version="new", stdout=io.StringIO(), **tiny)
    call_command("train_suggester", epochs=2, resume=True, model_version="new", stdout=io.StringIO(), **tiny)
    call_command("train_suggester", epochs=1, model_version="old", stdout=io.StringIO(), **tiny)
    # Make "old" a run of the previous release: its epoch checkpoint a torch.save pickle, no final file.
    run = settings.CHECKPOINT_DIR / "net" / "old"
    old_style_save(run / LEGACY_LAST, checkpoint_load(run / LAST))
    (run / LAST).unlink()
    (run / FINAL).unlink()

    out = io.StringIO()
    call_command("train_suggester", epochs=2, resume=True, model_version="old", stdout=out, **tiny)
    assert f"resuming {run / LEGACY_LAST} after epoch 1" in out.getvalue()
    assert (run / LAST).is_file() and (run / FINAL).is_file()  # from now on written as safetensors
    suggester = Suggester.objects.get(name="net", version="old")
    assert suggester.path.endswith("old/model.safetensors")
    assert [h["epoch"] for h in suggester.training["history"]] == [1, 2]
    from_pt = checkpoint_load(run / FINAL)["model"]
    from_safetensors = checkpoint_load(settings.CHECKPOINT_DIR / "net" / "new" / FINAL)["model"]
    assert from_pt.keys() == from_safetensors.keys()
    for key in from_pt:  # the same model, optimizer moments and random state came back from either file
        torch.testing.assert_close(from_pt[key], from_safetensors[key], rtol=0, atol=0, msg=key)


class RunsAShellCommand:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.django_db
def test_a_pickle_of_objects_is_refused_naming_the_file_and_never_runs(faces, data_root, tmp_path,  # noqa: F811
                                                                        settings):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "annotator-expression-net", "config": {"num_classes": 8}, "model": {},
                "x": RunsAShellCommand(marker)}, evil)
    with pytest.raises(CheckpointError, match=r"evil\.pt: refused: .*posix\.system.*weights_only=True"):
        checkpoint_load(evil)
    with pytest.raises(CheckpointError, match=r"evil\.pt: refused"):
        CheckpointModel(evil)  # what the worker loads
    # A run folder whose last.pt is such a file: the resume stops on it, naming it.
    settings.CHECKPOINT_DIR = tmp_path / "checkpoints"
    run = settings.CHECKPOINT_DIR / "net" / "v1"
    run.mkdir(parents=True)
    store_sample_faces(faces, ["train"] * len(faces))
    evil.rename(run / LEGACY_LAST)
    with pytest.raises(CommandError, match=r"v1/last\.pt: refused"):
        call_command("train_suggester", resume=True, name="net", model_version="v1", categories=11, depth=10,
                     width=8, input_size=64, stdout=io.StringIO())
    assert not marker.exists()  # the payload never ran


def test_damaged_and_foreign_files_are_refused_naming_file_and_field(faces, tmp_path):  # noqa: F811
    result = tiny_run(faces, tmp_path / "run")
    data = result.checkpoint.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.safetensors: not a readable safetensors checkpoint"):
        CheckpointModel(cut)
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.safetensors"):
        checkpoint_load(tmp_path / "empty.safetensors")

    tensors, meta = load_file(result.checkpoint), metadata_of(result.checkpoint)
    save_file(tensors, tmp_path / "foreign.safetensors")  # someone's state_dict, without our metadata
    with pytest.raises(CheckpointError, match=r"foreign\.safetensors: metadata 'format' is None"):
        checkpoint_load(tmp_path / "foreign.safetensors")
    save_file(tensors, tmp_path / "state.safetensors", metadata=meta | {"state": "{not json"})
    with pytest.raises(CheckpointError, match=r"state\.safetensors: metadata 'state' is missing or not JSON"):
        checkpoint_load(tmp_path / "state.safetensors")
    save_file(tensors, tmp_path / "layout.safetensors", metadata=meta | {"state": '{"epoch": {"__dict__": 3}}'})
    with pytest.raises(CheckpointError, match=r"layout\.safetensors: metadata 'state' is not a checkpoint's layout"):
        checkpoint_load(tmp_path / "layout.safetensors")
    config = json.loads(meta["config"])
    save_file(tensors, tmp_path / "eight.safetensors", metadata=meta | {"config": json.dumps(config | {"num_classes": 8})})
    with pytest.raises(CheckpointError, match=r"eight\.safetensors: the weights do not fit the network its config"):
        CheckpointModel(tmp_path / "eight.safetensors")
    save_file(tensors, tmp_path / "width.safetensors", metadata=meta | {"config": json.dumps(config | {"width": -1})})
    with pytest.raises(CheckpointError, match=r"width\.safetensors: config: width/layers"):
        CheckpointModel(tmp_path / "width.safetensors")
    save_file(tensors, tmp_path / "lost.safetensors", metadata=meta | {"config": json.dumps({"labels": [0]})})
    with pytest.raises(CheckpointError, match=r"lost\.safetensors: config lacks 'num_classes'"):
        checkpoint_load(tmp_path / "lost.safetensors")
    # The final file holds weights, not the optimizer: a resume from it says what it lacks.
    (tmp_path / "run" / LAST).unlink()
    result.checkpoint.rename(tmp_path / "run" / LAST)
    with pytest.raises(TrainingError, match=r"last\.safetensors: lacks the training state a resume needs \(optimizer"):
        tiny_run(faces, tmp_path / "run", resume=True, epochs=2)
