"""Which implementation a suggester kind maps to, and the one model each worker process keeps.

Django-free: the caller (annotator.suggestions.services) passes the Suggester row's fields.
"""
import threading

KINDS = ("builtin", "checkpoint", "onnx")

_cache = {}
_lock = threading.Lock()


class UnknownSuggesterKind(ValueError):
    """A Suggester kind no implementation serves."""


def load_model(kind, path, config, name, version, device=None):
    """Return a new ExpressionModel for a suggester's kind, weights path and config."""
    if kind == "builtin":
        network = (config or {}).get("network", "networkv2")
        if network == "mini_xception":
            from annotator.suggestions.inference.mini_xception import MiniXceptionModel

            model = MiniXceptionModel(device=device)
        elif network == "networkv2":
            from annotator.suggestions.inference.builtin import BuiltinModel

            model = BuiltinModel(device=device)
        else:
            raise UnknownSuggesterKind(f"config.network: {network!r} is not networkv2 or mini_xception")
    elif kind == "checkpoint":
        from annotator.suggestions.inference.checkpoint import CheckpointModel

        model = CheckpointModel(path, device=device)
    elif kind == "onnx":
        from annotator.suggestions.inference.onnx_model import OnnxModel

        model = OnnxModel(path, config or {}, name=name, version=version, device=device)
    else:
        raise UnknownSuggesterKind(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    # The name and version stored on each suggestion are the Suggester row's.
    model.name, model.version = name, version
    return model


def cached_model(key, kind, path, config, name, version, device=None):
    """Return the process's model for key (e.g. (suggester id, version)), loading it on first use.

    Only one model is kept: a worker serves the active suggester, and a GPU holds one at a time.
    """
    with _lock:
        model = _cache.get(key)
        if model is None:
            _cache.clear()
            model = _cache[key] = load_model(kind, path, config, name, version, device=device)
        return model
