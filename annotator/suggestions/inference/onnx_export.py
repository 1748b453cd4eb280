"""Export the project's trained network (a checkpoint) as ONNX, with the config an `onnx` suggester needs.

The graph takes the normalised float input (N, 3, S, S), NCHW, RGB (what ExpressionNet.forward
takes) and returns "logits" (N, K) and "va" (N, 2, tanh). The config that OnnxModel reads (labels,
input size, scale, mean, std, output names; see onnx_model.py) is stored in the file's metadata
under CONFIG_KEY, so `add_suggester NAME VERSION --kind onnx --path OUT.onnx` needs no --config.

The export is checked before it is kept: onnx's checker, then onnxruntime's answers against torch's
on probe inputs; a file that fails is removed, never left half-written. Django-free.
"""
import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from annotator.suggestions.inference.checkpoint import checkpoint_load, model_from_checkpoint
from annotator.suggestions.inference.onnx_model import CONFIG_KEY

# ONNX opset 17: what torch's TorchScript exporter writes best (it goes to 20), that onnxruntime 1.32
# (to opset 23) and TensorRT 8.6+ run; the network uses only Conv, BatchNorm, Relu, MaxPool,
# GlobalAveragePool, Gemm and Tanh, all in opset 17.
OPSET = 17
INPUT = "image"
OUTPUTS = ("logits", "va")


class ExportError(ValueError):
    """An export that did not come out right (the message names the file)."""


def onnx_config(checkpoint_config: dict, *, source: dict) -> dict:
    """Return the OnnxModel config (onnx_model.py) for a checkpoint's config."""
    labels = checkpoint_config.get("labels") or list(range(int(checkpoint_config["num_classes"])))
    return {
        "labels": [int(label) for label in labels],
        "input_size": int(checkpoint_config["input_size"]),
        "layout": "NCHW",
        "channel_order": "RGB",
        "grayscale": False,
        "scale": 1 / 255,
        "mean": [float(v) for v in checkpoint_config["mean"]],
        "std": [float(v) for v in checkpoint_config["std"]],
        "softmax": True,
        "probabilities_output": OUTPUTS[0],
        "va_output": OUTPUTS[1],
        "source": source,
    }


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_onnx(checkpoint_path, out_path, *, opset: int = OPSET, probe=None, atol: float = 1e-4) -> dict:
    """Write the checkpoint's network as ONNX at out_path (atomically); return its OnnxModel config.

    probe: float32 inputs (N, 3, S, S) to compare onnxruntime with torch on (default: fixed noise);
    a difference above atol removes the file and raises ExportError.
    """
    import onnx
    import onnxruntime as ort

    checkpoint_path, out_path = Path(checkpoint_path), Path(out_path)
    data = checkpoint_load(checkpoint_path)
    model = model_from_checkpoint(data, checkpoint_path).eval().float()
    size = model.config.input_size
    config = onnx_config(data["config"], source={
        "name": data["config"].get("name"), "version": data["config"].get("version"),
        "checkpoint": str(checkpoint_path), "checkpoint_sha256": _sha256(checkpoint_path),
        "opset": opset, "torch": torch.__version__.split("+")[0],
    })
    if probe is None:
        probe = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
    tmp = out_path.with_name(f".{out_path.name}.tmp-{os.getpid()}")
    try:
        # The TorchScript exporter (dynamo=False): the torch.export one needs onnxscript, which the project
        # does not install; torch 2.13 marks the older one deprecated but writes this network exactly.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model, (torch.zeros(1, 3, size, size),), str(tmp), input_names=[INPUT], output_names=list(OUTPUTS),
                dynamic_axes={INPUT: {0: "batch"}, OUTPUTS[0]: {0: "batch"}, OUTPUTS[1]: {0: "batch"}},
                opset_version=opset, do_constant_folding=True, dynamo=False,
            )
        proto = onnx.load(str(tmp))
        del proto.metadata_props[:]
        for key, value in ((CONFIG_KEY, json.dumps(config)), ("annotator.format", "annotator-expression-net")):
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name = "annotator export_suggester"
        onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, str(tmp))

        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        got_logits, got_va = session.run(list(OUTPUTS), {INPUT: probe})
        with torch.no_grad():
            logits, va = model(torch.from_numpy(probe))
        worst = max(float(np.abs(got_logits - logits.numpy()).max()), float(np.abs(got_va - va.numpy()).max()))
        if not worst <= atol:
            raise ExportError(f"{out_path}: onnxruntime differs from torch by {worst:.2e} (more than {atol:g})")
        os.replace(tmp, out_path)
    except ExportError:
        raise
    except Exception as exc:  # torch.onnx, onnx's checker and onnxruntime raise their own types
        raise ExportError(f"{out_path}: the export failed ({' '.join(str(exc).split())[:400]})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return config
