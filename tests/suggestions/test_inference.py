"""The suggesters behind one interface: the built-in FER2013 CNN, an ONNX model, the V/A estimate."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotator.domain.categories import CONTEMPT, HAPPINESS, NO_FACE, NONE, UNCERTAIN
from annotator.domain.va_regions import point_in_region
from annotator.suggestions.inference import registry
from annotator.suggestions.inference.builtin import predictions_from_fer_scores
from annotator.suggestions.inference.onnx_model import OnnxConfigError
from annotator.suggestions.inference.va import va_from_probabilities

DATA = Path(__file__).resolve().parents[1] / "data"


def crops(*names):
    return np.stack([np.asarray(Image.open(DATA / name).convert("RGB")) for name in names])


def test_builtin_model_puts_a_broad_smile_on_happiness():
    model = registry.load_model("builtin", "", {}, "fer", "1", device="cpu")
    out = model.predict(crops("smiling_obama_224.jpg", "biden_224.jpg", "speaking_obama_224.jpg"))
    assert out.probabilities.shape == (3, 11)
    assert np.allclose(out.probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert int(np.argmax(out.probabilities[0])) == HAPPINESS
    # FER2013 lacks these: they get exactly 0.
    assert not out.probabilities[:, [CONTEMPT, NONE, UNCERTAIN, NO_FACE]].any()
    assert out.valence[0] > 0.3  # the estimate follows the category: a smile is pleasant
    assert len(set(np.argmax(out.probabilities, axis=1))) > 1  # not one answer for every face


def test_mini_xception_agrees_on_the_smile():
    model = registry.load_model("builtin", "", {"network": "mini_xception"}, "mx", "1", device="cpu")
    out = model.predict(crops("smiling_obama_224.jpg", "biden_224.jpg"))
    assert np.allclose(out.probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert int(np.argmax(out.probabilities[0])) == HAPPINESS
    assert int(np.argmax(out.probabilities[1])) != HAPPINESS


def test_fer_scores_map_onto_affectnet_order():
    scores = np.array([[0.9, 0, 0, 0, 0, 0, 0.1]], dtype=np.float32)  # Angry, ..., Neutral
    probs = predictions_from_fer_scores(scores).probabilities[0]
    assert probs[6] == pytest.approx(0.9) and probs[0] == pytest.approx(0.1)


def test_va_estimate_is_the_expected_centroid():
    p = np.zeros((2, 11), dtype=np.float32)
    p[0, HAPPINESS] = 1.0
    p[1, UNCERTAIN] = 1.0  # no category with a point: the origin
    valence, arousal = va_from_probabilities(p)
    assert valence[0] > 0.5 and valence[1] == 0 and arousal[1] == 0
    assert point_in_region(HAPPINESS, float(valence[0]), float(arousal[0]))
    assert not point_in_region(HAPPINESS, -0.8, -0.6)


def export_tiny_onnx(path, *, with_va):
    """Export a small real torch network (untrained, fixed seed) to ONNX."""
    import torch
    from torch import nn

    torch.manual_seed(0)

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.cls = nn.Linear(4, 8)
            self.va = nn.Linear(4, 2)

        def forward(self, x):
            f = self.features(x)
            return (self.cls(f), torch.tanh(self.va(f))) if with_va else self.cls(f)

    net = Tiny().eval()
    names = ["logits", "va"] if with_va else ["logits"]
    torch.onnx.export(net, torch.zeros(1, 3, 64, 64), str(path), input_names=["image"], output_names=names,
                      dynamic_axes={"image": {0: "n"}, **{n: {0: "n"} for n in names}}, dynamo=False)
    return net


def test_onnx_model_follows_its_config(tmp_path):
    import torch

    net = export_tiny_onnx(tmp_path / "m.onnx", with_va=True)
    labels = ["Neutral", "Happiness", "Sadness", "Surprise", "Fear", "Disgust", "Anger", "Contempt"]
    config = {"labels": labels, "input_size": 64, "mean": [0.5] * 3, "std": [0.25] * 3, "va_output": "va"}
    model = registry.load_model("onnx", str(tmp_path / "m.onnx"), config, "tiny", "7", device="cpu")
    assert (model.name, model.version) == ("tiny", "7")
    batch = crops("smiling_obama_224.jpg", "biden_224.jpg")
    out = model.predict(batch)

    # The same network in torch, preprocessed by hand, gives the same answer: the ONNX path resizes in
    # float (no rounding to uint8), as torch's antialiased bilinear resize of the project's network does.
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).float()
    x = torch.nn.functional.interpolate(x, size=(64, 64), mode="bilinear", antialias=True, align_corners=False)
    x = (x / 255.0 - 0.5) / 0.25
    logits, va = (t.detach().numpy() for t in net(x))
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.allclose(out.probabilities[:, :8], expected, atol=1e-4)
    assert not out.probabilities[:, 8:].any()
    assert np.allclose(out.valence, va[:, 0], atol=1e-4) and np.allclose(out.arousal, va[:, 1], atol=1e-4)


def test_onnx_config_errors_name_the_field(tmp_path):
    export_tiny_onnx(tmp_path / "m.onnx", with_va=False)
    with pytest.raises(OnnxConfigError, match="config.labels"):
        registry.load_model("onnx", str(tmp_path / "m.onnx"), {}, "tiny", "1")
    model = registry.load_model("onnx", str(tmp_path / "m.onnx"), {"labels": [0, 1, 2], "input_size": 64}, "t", "1")
    with pytest.raises(OnnxConfigError, match="3 labels for 8 model outputs"):
        model.predict(crops("biden_224.jpg"))
    with pytest.raises(registry.UnknownSuggesterKind, match="kind"):
        registry.load_model("tflite", "", {}, "x", "1")
