"""Device choice and the batched, overlapped run shared by the torch models (torch imported lazily)."""
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
