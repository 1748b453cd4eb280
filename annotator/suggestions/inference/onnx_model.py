"""Any ONNX expression model through onnxruntime, described by a config (Suggester.config).

Config keys (all optional except labels):
  labels: for each output column, the AffectNet index (0-10) or name ("Happiness") it maps to;
      columns mapped to null are dropped; categories no column maps to get probability 0.
  input_size: side in pixels the model expects (default 224).
  grayscale: feed one luma channel (default false).
  channel_order: "RGB" or "BGR" (default "RGB").
  layout: "NCHW" or "NHWC" (default "NCHW").
  scale: multiply pixels by this first (default 1/255).
  mean, std: per channel, applied after scale (defaults 0 and 1).
  softmax: apply softmax to the scores (true for logits; default true). With false, scores
      are only normalised to sum to one.
  probabilities_output: output name or index of the scores (default 0).
  valence_output, arousal_output: output name or index of (N,) or (N, 1) V/A (optional);
  va_output: output name or index of an (N, 2) valence/arousal output (optional).
  Without V/A outputs, V/A are estimated from the probabilities (inference/va.py).
"""
import numpy as np

from annotator.domain.categories import CATEGORY_NAMES
from annotator.suggestions.inference.base import Predictions
from annotator.suggestions.inference.va import va_from_probabilities


class OnnxConfigError(ValueError):
    """A Suggester config that does not describe the ONNX model."""


def _label_index(label):
    if label is None:
        return None
    if isinstance(label, str):
        names = {n.lower(): i for i, n in enumerate(CATEGORY_NAMES)}
        if label.lower() not in names:
            raise OnnxConfigError(f"config.labels: unknown category name {label!r}")
        return names[label.lower()]
    if not 0 <= int(label) <= 10:
        raise OnnxConfigError(f"config.labels: {label!r} is not a category index (0-10)")
    return int(label)


class OnnxModel:
    """An ONNX model behind the ExpressionModel interface."""

    def __init__(self, path, config, *, name="onnx", version="1", device=None):
        import onnxruntime as ort

        if not config.get("labels"):
            raise OnnxConfigError("config.labels: the output's label order is required for an ONNX model")
        self.name, self.version = name, version
        self.labels = [_label_index(label) for label in config["labels"]]
        self.size = int(config.get("input_size", 224))
        self.grayscale = bool(config.get("grayscale", False))
        self.bgr = str(config.get("channel_order", "RGB")).upper() == "BGR"
        self.nhwc = str(config.get("layout", "NCHW")).upper() == "NHWC"
        self.scale = float(config.get("scale", 1 / 255))
        channels = 1 if self.grayscale else 3
        self.mean = np.asarray(config.get("mean", [0.0] * channels), dtype=np.float32).reshape(channels)
        self.std = np.asarray(config.get("std", [1.0] * channels), dtype=np.float32).reshape(channels)
        self.softmax = bool(config.get("softmax", True))
        providers = ["CPUExecutionProvider"]
        if device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise OnnxConfigError(f"{path}: not a loadable ONNX model ({exc})") from None
        self.input_name = self.session.get_inputs()[0].name
        outputs = [o.name for o in self.session.get_outputs()]
        self.outputs = outputs

        def output(key):
            value = config.get(key)
            if value is None:
                return None
            if isinstance(value, int):
                return outputs[value]
            if value not in outputs:
                raise OnnxConfigError(f"config.{key}: the model has no output {value!r} (it has {outputs})")
            return value

        self.prob_output = output("probabilities_output") or outputs[0]
        self.valence_output, self.arousal_output = output("valence_output"), output("arousal_output")
        self.va_output = output("va_output")

    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        """Return the model's input for uint8 (N, 224, 224, 3) RGB crops."""
        from PIL import Image

        x = np.asarray(crops)
        if x.shape[1:3] != (self.size, self.size):
            x = np.stack([np.asarray(Image.fromarray(c).resize((self.size, self.size), Image.Resampling.BILINEAR))
                          for c in x])
        x = x.astype(np.float32)
        if self.grayscale:
            x = (x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114)[..., None]
        elif self.bgr:
            x = x[..., ::-1]
        x = (x * self.scale - self.mean) / self.std
        if not self.nhwc:
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, dtype=np.float32)

    def predict(self, crops: np.ndarray) -> Predictions:
        wanted = [self.prob_output] + [o for o in (self.valence_output, self.arousal_output, self.va_output) if o]
        results = dict(zip(wanted, self.session.run(wanted, {self.input_name: self.preprocess(crops)})))
        scores = np.asarray(results[self.prob_output], dtype=np.float32).reshape(len(crops), -1)
        if scores.shape[1] != len(self.labels):
            raise OnnxConfigError(f"config.labels: {len(self.labels)} labels for {scores.shape[1]} model outputs")
        if self.softmax:
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        keep = [i for i, label in enumerate(self.labels) if label is not None]
        probabilities = np.zeros((len(crops), 11), dtype=np.float32)
        np.add.at(probabilities, (slice(None), [self.labels[i] for i in keep]), scores[:, keep])
        total = probabilities.sum(axis=1, keepdims=True)
        probabilities = np.divide(probabilities, total, out=np.zeros_like(probabilities), where=total > 0)
        if self.va_output:
            va = np.asarray(results[self.va_output], dtype=np.float32).reshape(len(crops), 2)
            valence, arousal = va[:, 0], va[:, 1]
        elif self.valence_output and self.arousal_output:
            valence = np.asarray(results[self.valence_output], dtype=np.float32).reshape(-1)
            arousal = np.asarray(results[self.arousal_output], dtype=np.float32).reshape(-1)
        else:
            valence, arousal = va_from_probabilities(probabilities)
        return Predictions(probabilities, np.clip(valence, -1, 1), np.clip(arousal, -1, 1))
