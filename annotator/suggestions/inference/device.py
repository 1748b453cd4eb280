"""Device choice and the input preparation shared by the torch models (torch imported lazily)."""
import contextlib


def pick_device(device=None):
    """Return a torch.device: the one asked for (a name or a device), else CUDA when present, else the CPU.

    An empty name counts as none asked for (an unset SUGGEST_DEVICE or --device "").
    """
    import torch

    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast_for(device):
    """Return bf16 autocast on CUDA; on the CPU plain float32 (bf16 there is slower on most CPUs)."""
    import torch

    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def gray_input(crops, device, size: int):
    """Return the (N, 1, size, size) float input, in [-1, 1], of uint8 (N, H, W, 3) RGB crops on device.

    The FER2013 networks (builtin, mini-Xception) both take it. ITU-R 601 luma: what OpenCV's
    BGR2GRAY, used by their original packages, computes.
    """
    import numpy as np
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(crops)).to(device).float()
    gray = x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114
    gray = F.interpolate(gray[:, None] / 255.0, size=(size, size), mode="bilinear", antialias=True)
    return (gray - 0.5) / 0.5
