"""Checkpoints of the project's network: save, load (weights_only), and the suggester that runs one.

A checkpoint is a dict of plain types and tensors written by torch.save:
  {"format": "annotator-expression-net", "config": {...}, "model": state_dict,
   and while training: "optimizer", "epoch", "step", "rng", "history"}
config holds the network's NetConfig plus "name", "version", "labels" (the categories the class
outputs stand for, in order) and "preprocessing". It is read back with torch.load(weights_only=True),
so a checkpoint file can never run code.
"""
import os
from pathlib import Path

import numpy as np
import torch

from annotator.domain.batching import chunked
from annotator.domain.categories import NUM_CATEGORIES
from annotator.suggestions.inference.base import Predictions
from annotator.suggestions.inference.device import pick_device
from annotator.suggestions.inference.network import ExpressionNet, NetConfig

FORMAT = "annotator-expression-net"


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


def checkpoint_save(path, *, model: ExpressionNet, config: dict, **training_state) -> Path:
    """Write a checkpoint atomically (a temporary file renamed over the target), return its path.

    A crash while writing leaves the previous checkpoint in place, never half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "config": dict(config), "model": model.state_dict()} | training_state
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(data, tmp)
    os.replace(tmp, path)
    return path


def checkpoint_load(path, *, map_location="cpu") -> dict:
    """Read a checkpoint with weights_only=True and check that it is one of ours."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for damaged or foreign files
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or "config" not in data or "model" not in data:
        raise CheckpointError(f"{path}: not a checkpoint of the annotator's expression network")
    return data


def model_from_checkpoint(data: dict) -> ExpressionNet:
    """Build the network a loaded checkpoint describes and put its weights in."""
    model = ExpressionNet(NetConfig.from_dict(data["config"]))
    model.load_state_dict(data["model"])
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
        self.model = model_from_checkpoint(data).to(self.device)
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
