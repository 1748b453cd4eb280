"""Checkpoints of the project's network: save, load, and the suggester that runs one.

A checkpoint is written as safetensors (https://github.com/huggingface/safetensors): a JSON header
and raw tensor bytes, so reading one can never run code. Its content is the dict
  {"format": "annotator-expression-net", "config": {...}, "model": state_dict,
   and while training: "optimizer", "epoch", "step", "rng", "history", ...}
laid out in the file as
  - the model's tensors under their state_dict names (so `safetensors.torch.load_file` gives a
    state_dict that `load_state_dict` takes as it is);
  - every other tensor (optimizer moments, random state, ...) under "@/<path>", e.g.
    "@/optimizer/state/0/exp_avg" ("/" never occurs in a parameter name);
  - the metadata: "format", "format_version", "config" (JSON) and "state" (JSON of everything
    else, each tensor replaced by {"__tensor__": its key}; tuples and dicts with non-string keys,
    as the optimizer's state has, are spelled out so they come back as they were).
config holds the network's NetConfig plus "name", "version", "labels" (the categories the class
outputs stand for, in order) and "preprocessing".

Older checkpoints were torch.save pickles (.pt). They still load, with torch.load(weights_only=True)
only: a .pt holding anything but tensors and plain types is refused, naming the file.
"""
import json
import os
from pathlib import Path

import numpy as np
import torch

from annotator.domain.batching import chunked
from annotator.domain.categories import NUM_CATEGORIES
from annotator.suggestions.inference.base import Predictions
from annotator.suggestions.inference.device import pick_device
from annotator.suggestions.inference.network import ExpressionNet, NetConfig, is_safetensors

FORMAT = "annotator-expression-net"
FORMAT_VERSION = "1"
SUFFIX = ".safetensors"
STATE_PREFIX = "@/"  # tensors of the checkpoint that are not the model's


class CheckpointError(ValueError):
    """A file that is not a checkpoint of this network (or is damaged)."""


def checkpoint_config(net_config: NetConfig, *, name: str, version: str) -> dict:
    """Return the config stored with a checkpoint (everything a loader needs besides the weights)."""
    return net_config.to_dict() | {
        "name": name,
        "version": version,
        "labels": list(range(net_config.num_classes)),
        "preprocessing": {
            "input": "uint8 RGB 224x224 crop",
            "resize": net_config.input_size,
            "scale": "1/255",
            "mean": list(net_config.mean),
            "std": list(net_config.std),
        },
    }


def _join(path: str, key) -> str:
    return f"{path}/{key}" if path else str(key)


def _encode(value, path: str, tensors: dict):
    """Return value as JSON-able data, moving its tensors into `tensors` (keyed by their path)."""
    if isinstance(value, torch.Tensor):
        key = STATE_PREFIX + path
        tensors[key] = value.detach().to("cpu").contiguous()
        return {"__tensor__": key}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and not any(k.startswith("__") for k in value):
            return {k: _encode(v, _join(path, k), tensors) for k, v in value.items()}
        for k in value:
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"{path}: key {k!r} is neither a string nor an integer")
        return {"__dict__": [[k, _encode(v, _join(path, k), tensors)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, _join(path, i), tensors) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, _join(path, i), tensors) for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    raise TypeError(f"{path}: a {type(value).__name__} cannot be stored in a checkpoint")


def _decode(value, tensors: dict, where: str):
    if isinstance(value, list):
        return [_decode(v, tensors, where) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"__tensor__"}:
        key = value["__tensor__"]
        if key not in tensors:
            raise CheckpointError(f"{where}: metadata 'state' names a tensor {key!r} the file does not hold")
        return tensors[key]
    if set(value) == {"__tuple__"}:
        return tuple(_decode(v, tensors, where) for v in value["__tuple__"])
    if set(value) == {"__dict__"}:
        return {k: _decode(v, tensors, where) for k, v in value["__dict__"]}
    return {k: _decode(v, tensors, where) for k, v in value.items()}


def checkpoint_save(path, *, model: ExpressionNet, config: dict, **training_state) -> Path:
    """Write a safetensors checkpoint atomically (a temporary file renamed over the target), return its path.

    A crash while writing leaves the previous checkpoint in place, never half a file.
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    state = _encode(dict(training_state), "", tensors)
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": json.dumps(dict(config)),
                "state": json.dumps(state)}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _load_safetensors(path: Path, map_location) -> dict:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            metadata = fh.metadata() or {}
            tensors = {key: fh.get_tensor(key) for key in fh.keys()}
    except Exception as exc:  # safetensors raises SafetensorError (and OSError) for damaged files
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint ({exc})") from None
    if map_location is not None and str(map_location) != "cpu":
        tensors = {key: value.to(map_location) for key, value in tensors.items()}
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: metadata 'format' is {metadata.get('format')!r}, not {FORMAT!r}: "
                              "not a checkpoint of the annotator's expression network")
    fields = {}
    for field in ("config", "state"):
        try:
            fields[field] = json.loads(metadata.get(field, ""))
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{path}: metadata {field!r} is missing or not JSON ({exc})") from None
        if not isinstance(fields[field], dict):
            raise CheckpointError(f"{path}: metadata {field!r} is not a JSON object")
    try:
        state = _decode(fields["state"], tensors, str(path))
    except (TypeError, ValueError, AttributeError) as exc:  # a hand-edited or damaged layout
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{path}: metadata 'state' is not a checkpoint's layout ({exc})") from None
    model = {k: v for k, v in tensors.items() if not k.startswith(STATE_PREFIX)}
    return state | {"format": FORMAT, "config": fields["config"], "model": model}


def _load_pickle(path: Path, map_location) -> dict:
    import pickle

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message suggests weights_only=False; never here. Keep only the line that says what it met.
        met = next((line.strip() for line in str(exc).splitlines() if "GLOBAL" in line), None)
        if met is None:  # not a pickle of objects: a damaged or foreign file
            said = [line.strip() for line in str(exc).splitlines()
                    if line.strip() and not line.startswith(("Weights only load failed", "Check the documentation"))]
            raise CheckpointError(f"{path}: not a readable checkpoint ({' '.join(said)[:300]})") from None
        raise CheckpointError(
            f"{path}: refused: this .pt file holds pickled objects other than tensors and plain types "
            f"({met[:300]}); a .pt checkpoint is only ever read with torch.load(weights_only=True)") from None
    except Exception as exc:  # torch raises several types for damaged or foreign files
        raise CheckpointError(f"{path}: not a readable checkpoint ({' '.join(str(exc).split())[:300]})") from None


def checkpoint_load(path, *, map_location="cpu") -> dict:
    """Read a checkpoint (safetensors; an older .pt with weights_only=True) and check that it is one of ours."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.suffix == SUFFIX or is_safetensors(path):
        data = _load_safetensors(path, map_location)
    else:
        data = _load_pickle(path, map_location)
    if not isinstance(data, dict) or data.get("format") != FORMAT or "config" not in data or "model" not in data:
        raise CheckpointError(f"{path}: not a checkpoint of the annotator's expression network")
    if not isinstance(data["config"], dict) or "num_classes" not in data["config"]:
        raise CheckpointError(f"{path}: config lacks 'num_classes'")
    return data


def model_from_checkpoint(data: dict, path="checkpoint") -> ExpressionNet:
    """Build the network a loaded checkpoint describes and put its weights in (errors name the path)."""
    try:
        model = ExpressionNet(NetConfig.from_dict(data["config"]))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: config: {exc}") from None
    try:
        model.load_state_dict(data["model"])
    except RuntimeError as exc:  # missing, unexpected or mis-shaped tensors
        first = " ".join(str(exc).split())[:400]
        raise CheckpointError(f"{path}: the weights do not fit the network its config describes ({first})") from None
    return model


def to_eleven(probabilities: np.ndarray, labels) -> np.ndarray:
    """Spread (N, K) class probabilities onto the 11 categories; categories the model lacks get 0."""
    out = np.zeros((probabilities.shape[0], NUM_CATEGORIES), dtype=np.float32)
    out[:, list(labels)] = probabilities
    return out


@torch.no_grad()
def predict_batches(model: ExpressionNet, crops: np.ndarray, *, device, batch_size=64):
    """Run the model over uint8 crops (N, H, W, 3); return (probabilities (N, K), valence/arousal (N, 2))."""
    model.eval()
    probabilities, va = [], []
    use_cuda = device.type == "cuda"
    for rows in chunked(crops, batch_size):
        batch = torch.from_numpy(np.stack(rows)).to(device)
        x = model.preprocess(batch)
        if use_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_cuda):
            logits, out_va = model(x)
        probabilities.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        va.append(out_va.float().cpu().numpy())
    k = model.config.num_classes
    if not probabilities:
        return np.zeros((0, k), np.float32), np.zeros((0, 2), np.float32)
    return np.concatenate(probabilities).astype(np.float32), np.concatenate(va).astype(np.float32)


class CheckpointModel:
    """The suggester for a checkpoint of the project's network (kind "checkpoint")."""

    def __init__(self, path, device=None, *, batch_size=64):
        data = checkpoint_load(path)
        config = data["config"]
        self.path = str(path)
        self.name = str(config.get("name") or Path(path).parent.name)
        self.version = str(config.get("version") or Path(path).stem)
        self.labels = list(config.get("labels") or range(config["num_classes"]))
        self.device = pick_device(device)
        self.batch_size = batch_size
        self.model = model_from_checkpoint(data, path).to(self.device)
        if self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.model.eval()

    def predict(self, crops: np.ndarray) -> Predictions:
        """Predict for uint8 RGB crops of shape (N, 224, 224, 3)."""
        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[-1] != 3 or crops.dtype != np.uint8:
            raise ValueError(f"crops: expected uint8 (N, H, W, 3), got {crops.dtype} {crops.shape}")
        probabilities, va = predict_batches(self.model, crops, device=self.device, batch_size=self.batch_size)
        return Predictions(
            probabilities=to_eleven(probabilities, self.labels),
            valence=np.clip(va[:, 0], -1.0, 1.0),
            arousal=np.clip(va[:, 1], -1.0, 1.0),
        )
