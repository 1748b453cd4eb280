"""export_suggester: the trained network as ONNX, with its config; onnxruntime answers as torch does on
the sample faces, the file registers as an `onnx` suggester and serves suggestions; bad files and
configs are refused naming the file and the field."""
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from annotator.models import Face, Suggester, Suggestion
from annotator.suggestions.inference import registry
from annotator.suggestions.inference.checkpoint import CheckpointModel
from annotator.suggestions.inference.network import NetConfig
from annotator.suggestions.inference.onnx_export import ExportError, export_onnx
from annotator.suggestions.inference.onnx_model import CONFIG_KEY, OnnxConfigError, embedded_config
from annotator.suggestions.selectors import suggester_active
from annotator.suggestions.services import suggestions_compute
from annotator.training.data import samples_from_folder
from annotator.training.trainer import TrainConfig, train

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SAMPLE_FACES = ROOT / "annotator" / "sample_faces"


def sample_crops():
    """The test photographs and the shipped sample faces: 224x224 RGB crops."""
    paths = sorted(DATA.glob("*.jpg")) + sorted(SAMPLE_FACES.glob("*.jpg"))
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])


_runs = {}


def trained_checkpoint(tmp_path_factory, size):
    """A small network of the project trained for a few steps on the sample faces (once per input size)."""
    if size not in _runs:
        out = tmp_path_factory.mktemp(f"run{size}")
        net = NetConfig(num_classes=8, width=8, layers=(1, 1, 1, 1), input_size=size)
        result = train(samples_from_folder(SAMPLE_FACES), out_dir=out, name="net", version="v1", net_config=net,
                       train_config=TrainConfig(epochs=1, batch_size=8, max_steps=3, workers=0), progress=False,
                       log=lambda _: None)
        _runs[size] = result.checkpoint
    return _runs[size]


@pytest.fixture(params=[224])
def recorded(request, db, tmp_path_factory):
    """The trained network recorded as suggester net v1 (kind checkpoint), as train_suggester records it."""
    path = trained_checkpoint(tmp_path_factory, request.param)
    return Suggester.objects.create(name="net", version="v1", kind=Suggester.Kind.CHECKPOINT, path=str(path))


# 224: the crops' own size (the default); 64: the ONNX path resizes in float as torch does.
@pytest.mark.parametrize("recorded", [224, 64], indirect=True)
def test_onnxruntime_answers_as_torch_does_within_1e_4_on_the_sample_faces(recorded, tmp_path):
    size = CheckpointModel(recorded.path).model.config.input_size
    out = io.StringIO()
    call_command("export_suggester", "net", "v1", str(tmp_path / "net.onnx"), stdout=out)
    assert "opset 17" in out.getvalue() and "add_suggester net v1-onnx --kind onnx" in out.getvalue()
    config = embedded_config(tmp_path / "net.onnx")
    assert config["labels"] == list(range(8)) and config["input_size"] == size
    assert config["mean"] == pytest.approx(NetConfig().mean) and config["std"] == pytest.approx(NetConfig().std)
    assert config["va_output"] == "va" and config["source"]["opset"] == 17

    crops = sample_crops()
    assert len(crops) == 27
    torch_out = CheckpointModel(recorded.path, device="cpu").predict(crops)
    onnx_model = registry.load_model("onnx", str(tmp_path / "net.onnx"), config, "net", "v1-onnx", device="cpu")
    assert onnx_model.provider == "CPUExecutionProvider"
    onnx_out = onnx_model.predict(crops)
    for part in ("probabilities", "valence", "arousal"):
        np.testing.assert_allclose(getattr(onnx_out, part), getattr(torch_out, part), rtol=0, atol=1e-4,
                                   err_msg=part)
    assert len(set(np.argmax(torch_out.probabilities, axis=1))) > 1 or torch_out.probabilities.std() > 0
    assert not onnx_out.probabilities[:, 8:].any()  # an 8-class network: None/Uncertain/No-Face get 0


@pytest.mark.django_db
def test_the_exported_file_registers_and_serves_suggestions_as_an_onnx_suggester(recorded, data_root, tmp_path):
    from tests.suggestions.test_suggesting import store_photos

    call_command("export_suggester", "net", "v1", str(tmp_path / "net.onnx"), stdout=io.StringIO())
    # No --config: the labels, size and normalisation come from the file.
    call_command("add_suggester", "net", "v1-onnx", "--kind", "onnx", "--path", str(tmp_path / "net.onnx"),
                 "--activate", stdout=io.StringIO())
    active = suggester_active()
    assert (active.name, active.version, active.kind) == ("net", "v1-onnx", "onnx")
    assert active.config["labels"] == list(range(8)) and active.config["input_size"] == 224
    faces = store_photos()
    call_command("suggest", "--now", stdout=io.StringIO())
    served = {s.face_id: s for s in Suggestion.objects.filter(suggester=active)}
    assert sorted(served) == sorted(f.id for f in faces)
    # The same faces through the torch checkpoint: the same answers.
    suggestions_compute(face_ids=[f.id for f in faces], suggester=recorded)
    for face in Face.objects.filter(id__in=served):
        mine = Suggestion.objects.get(face=face, suggester=recorded)
        theirs = served[face.id]
        np.testing.assert_allclose(theirs.probabilities, mine.probabilities, atol=1e-4)
        assert theirs.category == mine.category
        assert theirs.valence == pytest.approx(mine.valence, abs=1e-4)
        assert theirs.arousal == pytest.approx(mine.arousal, abs=1e-4)


@pytest.mark.django_db
def test_what_cannot_be_exported_is_refused_naming_the_suggester_or_file(recorded, tmp_path):
    out = tmp_path / "net.onnx"
    with pytest.raises(CommandError, match="no suggester net v9"):
        call_command("export_suggester", "net", "v9", str(out))
    Suggester.objects.create(name="fer", version="1", kind=Suggester.Kind.BUILTIN)
    with pytest.raises(CommandError, match="fer 1 is a builtin suggester"):
        call_command("export_suggester", "fer", "1", str(out))
    with pytest.raises(CommandError, match=r"net\.txt: the file to write must end in \.onnx"):
        call_command("export_suggester", "net", "v1", str(tmp_path / "net.txt"))
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export_suggester", "net", "v1", str(tmp_path / "nowhere" / "net.onnx"))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\0\0\0\0\0\0\0{ not json }")
    Suggester.objects.create(name="broken", version="1", kind=Suggester.Kind.CHECKPOINT, path=str(junk))
    with pytest.raises(CommandError, match=r"junk\.safetensors: not a readable safetensors checkpoint"):
        call_command("export_suggester", "broken", "1", str(out))
    Suggester.objects.create(name="gone", version="1", kind=Suggester.Kind.CHECKPOINT, path=str(tmp_path / "x.pt"))
    with pytest.raises(CommandError, match=r"x\.pt: no such checkpoint file"):
        call_command("export_suggester", "gone", "1", str(out))
    assert not out.exists()
    call_command("export_suggester", "net", "v1", str(out), stdout=io.StringIO())
    with pytest.raises(CommandError, match=r"net\.onnx exists; add --force"):
        call_command("export_suggester", "net", "v1", str(out))
    # An export that does not match torch is removed whole: nothing half-written beside it.
    out.unlink()
    with pytest.raises(ExportError, match=r"net\.onnx: onnxruntime differs from torch"):
        export_onnx(recorded.path, out, atol=-1.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.safetensors"]


@pytest.mark.django_db
def test_an_onnx_file_or_config_that_does_not_fit_is_refused_naming_the_field(recorded, tmp_path):
    onnx_path = tmp_path / "net.onnx"
    call_command("export_suggester", "net", "v1", str(onnx_path), stdout=io.StringIO())

    def add(config, path=onnx_path):
        call_command("add_suggester", "x", "1", "--kind", "onnx", "--path", str(path), "--config", json.dumps(config),
                     stdout=io.StringIO())

    with pytest.raises(CommandError, match=r"net\.onnx: config\.input_size is 64 but the model's input 'image' is "
                                           r"\['batch', 3, 224, 224\]"):
        add({"input_size": 64})
    with pytest.raises(CommandError, match=r"net\.onnx: config\.grayscale: .* has 3 channel\(s\) as NCHW, the config "
                                           "feeds 1"):
        add({"grayscale": True, "mean": [0.5], "std": [0.5]})
    with pytest.raises(CommandError, match=r"net\.onnx: config\.(input_size|layout)"):
        add({"layout": "NHWC"})
    with pytest.raises(CommandError, match=r"config\.mean: 2 values for 3 input channel"):
        add({"mean": [0.1, 0.2]})
    with pytest.raises(CommandError, match=r"config\.std: \[.*\] has a zero"):
        add({"std": [0.2, 0.0, 0.2]})
    with pytest.raises(CommandError, match=r"net\.onnx: config\.labels: 3 labels for 8 model outputs"):
        add({"labels": [0, 1, 2]})
    with pytest.raises(CommandError, match=r"net\.onnx: config\.va_output: the model has no output 'valence'"):
        add({"va_output": "valence"})
    with pytest.raises(CommandError, match=r"config\.layout: 'CHW' is not NCHW or NHWC"):
        add({"layout": "CHW"})
    (tmp_path / "junk.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(CommandError, match=r"junk\.onnx: not a loadable ONNX model"):
        add({"labels": [0]}, path=tmp_path / "junk.onnx")
    assert not Suggester.objects.filter(name="x").exists()  # nothing recorded by a refused add

    # A model whose input is not an image batch at all.
    torch.onnx.export(torch.nn.Linear(4, 8), (torch.zeros(1, 4),), str(tmp_path / "flat.onnx"), input_names=["x"],
                      dynamo=False)
    with pytest.raises(OnnxConfigError, match=r"flat\.onnx: input 'x' has shape \[1, 4\]; .*rank 4"):
        registry.load_model("onnx", str(tmp_path / "flat.onnx"), {"labels": list(range(8))}, "f", "1")
    # A damaged config in the file's own metadata names the metadata key.
    import onnx

    proto = onnx.load(str(onnx_path))
    next(p for p in proto.metadata_props if p.key == CONFIG_KEY).value = "{broken"
    onnx.save(proto, str(tmp_path / "meta.onnx"))
    with pytest.raises(CommandError, match=r"meta\.onnx: metadata 'annotator\.config' is not JSON"):
        add({}, path=tmp_path / "meta.onnx")


def test_onnxruntime_takes_cuda_when_it_has_it_and_the_cpu_otherwise():
    from annotator.suggestions.inference.onnx_model import execution_providers

    gpu_wheel = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert execution_providers(None, gpu_wheel) == [("CUDAExecutionProvider", {"device_id": 0}),
                                                    "CPUExecutionProvider"]
    assert execution_providers("cuda:1", gpu_wheel)[0] == ("CUDAExecutionProvider", {"device_id": 1})
    assert execution_providers("cpu", gpu_wheel) == ["CPUExecutionProvider"]
    assert execution_providers("cuda", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]  # the CPU wheel


@pytest.mark.django_db
def test_benchmark_compares_torch_and_onnxruntime_on_one_network(recorded, data_root):
    out = io.StringIO()
    call_command("benchmark_suggest", faces=6, batch_size=4, repeats=1, create_faces=True, compare_runtimes=True,
                 suggester=["net", "v1"], device="cpu", stdout=out)
    text = out.getvalue()
    assert "network: net v1" in text and "input 224 px" in text
    for row in ("torch        cpu (fp32)                   bare model forward",
                "torch        cpu (fp32)                   end-to-end",
                "onnxruntime  CPUExecutionProvider (fp32)  bare model forward",
                "onnxruntime  CPUExecutionProvider (fp32)  end-to-end"):
        assert row in text, text
    difference = float(text.split("max |probability difference| ")[1].split(",")[0])
    assert difference <= 1e-4 and "same top category 100.0%" in text
    assert Suggester.objects.count() == 1 and not Suggestion.objects.exists()  # its own rows are gone
