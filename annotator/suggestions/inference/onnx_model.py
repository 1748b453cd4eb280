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

A model written by `export_suggester` carries its config in the file's metadata (CONFIG_KEY);
`add_suggester` takes it from there (embedded_config) when --config does not give the keys.
The config is checked against the model's input when it loads: a rank, channel count or side
that does not match is an OnnxConfigError naming the file and the config field.
"""
import json

import numpy as np

from annotator.domain.categories import CATEGORY_NAMES
from annotator.suggestions.inference.base import Predictions
from annotator.suggestions.inference.va import va_from_probabilities

CONFIG_KEY = "annotator.config"  # metadata key of the OnnxModel config in an exported file


class OnnxConfigError(ValueError):
    """A Suggester config that does not describe the ONNX model."""


def embedded_config(path) -> dict:
    """Return the config an exported ONNX file carries in its metadata ({} when it has none)."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise OnnxConfigError(f"{path}: not a loadable ONNX model ({' '.join(str(exc).split())[:300]})") from None
    raw = session.get_modelmeta().custom_metadata_map.get(CONFIG_KEY)
    if raw is None:
        return {}
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise OnnxConfigError(f"{path}: metadata {CONFIG_KEY!r} is not JSON ({exc})") from None
    if not isinstance(config, dict):
        raise OnnxConfigError(f"{path}: metadata {CONFIG_KEY!r} is not a JSON object")
    return config


def execution_providers(device, available) -> list:
    """Return onnxruntime's providers for a device name: CUDA first when onnxruntime has it (the
    onnxruntime-gpu wheel) and no device or a CUDA one is asked for ("cuda:1": GPU 1); the CPU always."""
    device = str(device or "")
    providers = ["CPUExecutionProvider"]
    if (not device or device.startswith("cuda")) and "CUDAExecutionProvider" in available:
        index = int(device.split(":", 1)[1]) if device.startswith("cuda:") else 0
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": index}))
    return providers


def _vector(config, key, channels, default):
    value = config.get(key, [default] * channels)
    try:
        vector = np.asarray(value, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError):
        raise OnnxConfigError(f"config.{key}: {value!r} is not a list of numbers") from None
    if vector.size == 1:
        vector = np.repeat(vector, channels)
    if vector.size != channels:
        raise OnnxConfigError(f"config.{key}: {vector.size} values for {channels} input channel(s)")
    return vector


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
        try:
            self.size = int(config.get("input_size", 224))
            self.scale = float(config.get("scale", 1 / 255))
        except (TypeError, ValueError):
            raise OnnxConfigError(f"config.input_size/scale: {config.get('input_size')!r}, {config.get('scale')!r} "
                                  "are not numbers") from None
        if self.size < 1:
            raise OnnxConfigError(f"config.input_size: {self.size} is not a side in pixels")
        self.grayscale = bool(config.get("grayscale", False))
        order, layout = str(config.get("channel_order", "RGB")).upper(), str(config.get("layout", "NCHW")).upper()
        if order not in ("RGB", "BGR"):
            raise OnnxConfigError(f"config.channel_order: {order!r} is not RGB or BGR")
        if layout not in ("NCHW", "NHWC"):
            raise OnnxConfigError(f"config.layout: {layout!r} is not NCHW or NHWC")
        self.bgr, self.nhwc = order == "BGR", layout == "NHWC"
        channels = 1 if self.grayscale else 3
        self.mean = _vector(config, "mean", channels, 0.0)
        self.std = _vector(config, "std", channels, 1.0)
        if not np.all(self.std != 0):
            raise OnnxConfigError(f"config.std: {self.std.tolist()} has a zero")
        self.softmax = bool(config.get("softmax", True))
        providers = execution_providers(device, ort.get_available_providers())
        try:
            self.session = ort.InferenceSession(str(path), providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise OnnxConfigError(f"{path}: not a loadable ONNX model ({exc})") from None
        self.path = str(path)
        self.provider = self.session.get_providers()[0]  # the one that runs it (CUDA when it could load)
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self._check_input(model_input, channels)
        outputs = [o.name for o in self.session.get_outputs()]
        self.outputs = outputs

        def output(key):
            value = config.get(key)
            if value is None:
                return None
            if isinstance(value, int) and not isinstance(value, bool) and -len(outputs) <= value < len(outputs):
                return outputs[value]
            if value not in outputs:
                raise OnnxConfigError(f"{path}: config.{key}: the model has no output {value!r} (it has {outputs})")
            return value

        self.prob_output = output("probabilities_output") or outputs[0]
        self.valence_output, self.arousal_output = output("valence_output"), output("arousal_output")
        self.va_output = output("va_output")

    def _check_input(self, model_input, channels):
        """Refuse a config whose input (layout, channels, side) the model's first input does not take."""
        shape = list(model_input.shape)
        if len(shape) != 4:
            raise OnnxConfigError(f"{self.path}: input {model_input.name!r} has shape {shape}; a model here takes "
                                  "a batch of images (rank 4, NCHW or NHWC: config.layout)")
        if "float" not in str(model_input.type):
            raise OnnxConfigError(f"{self.path}: input {model_input.name!r} is {model_input.type}; a float input "
                                  "is fed here")
        c, h, w = (shape[3], shape[1], shape[2]) if self.nhwc else (shape[1], shape[2], shape[3])
        layout = "NHWC" if self.nhwc else "NCHW"
        if isinstance(c, int) and c != channels:
            field = "config.grayscale" if c in (1, 3) else "config.layout"
            raise OnnxConfigError(f"{self.path}: {field}: the model's input {model_input.name!r} {shape} has {c} "
                                  f"channel(s) as {layout}, the config feeds {channels}")
        for side in (h, w):
            if isinstance(side, int) and side != self.size:
                raise OnnxConfigError(f"{self.path}: config.input_size is {self.size} but the model's input "
                                      f"{model_input.name!r} is {shape} ({layout})")

    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        """Return the model's input for uint8 (N, 224, 224, 3) RGB crops."""
        from PIL import Image

        x = np.asarray(crops)
        if x.shape[1:3] != (self.size, self.size):
            # Resized in float, channel by channel (PIL mode "F"): no rounding back to uint8, so a network
            # trained here on torch's antialiased bilinear resize sees the same pixels (within 1e-3 of 255).
            side = (self.size, self.size)
            x = np.stack([np.stack([np.asarray(Image.fromarray(c[..., k].astype(np.float32))
                                               .resize(side, Image.Resampling.BILINEAR)) for k in range(c.shape[-1])],
                                   axis=-1) for c in x])
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
            raise OnnxConfigError(f"{self.path}: config.labels: {len(self.labels)} labels for {scores.shape[1]} "
                                  "model outputs")
        if self.softmax:
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        keep = [i for i, label in enumerate(self.labels) if label is not None]
        probabilities = np.zeros((len(crops), 11), dtype=np.float32)
        np.add.at(probabilities, (slice(None), [self.labels[i] for i in keep]), scores[:, keep])
        total = probabilities.sum(axis=1, keepdims=True)
        probabilities = np.divide(probabilities, total, out=np.zeros_like(probabilities), where=total > 0)
        if self.va_output:
            va = np.asarray(results[self.va_output], dtype=np.float32)
            if va.size != 2 * len(crops):
                raise OnnxConfigError(f"{self.path}: config.va_output: {self.va_output!r} has shape {va.shape}, "
                                      f"not ({len(crops)}, 2)")
            va = va.reshape(len(crops), 2)
            valence, arousal = va[:, 0], va[:, 1]
        elif self.valence_output and self.arousal_output:
            valence = np.asarray(results[self.valence_output], dtype=np.float32).reshape(-1)
            arousal = np.asarray(results[self.arousal_output], dtype=np.float32).reshape(-1)
        else:
            valence, arousal = va_from_probabilities(probabilities)
        return Predictions(probabilities, np.clip(valence, -1, 1), np.clip(arousal, -1, 1))
