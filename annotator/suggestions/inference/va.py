"""Valence/arousal estimated from category probabilities (for models that predict no V/A).

The estimate is the expected value of per-category centroids under the model's category
probabilities: sum_k p_k * centroid_k over the categories that carry a point (0-8), renormalised.
The centroids are the centres of annotator.va_regions (approximate positions on Russell's circumplex,
1980); None (8) sits at the origin. It is an estimate, never a measurement: a model with its own V/A
heads (the project's checkpoint, an ONNX model with V/A outputs) replaces it.
"""
import numpy as np

from annotator.domain.va_regions import REGIONS

CENTROIDS = np.array([REGIONS[k]["center"] if k in REGIONS else (0.0, 0.0) for k in range(9)], dtype=np.float32)


def va_from_probabilities(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (valence, arousal), each (N,), for (N, 11) category probabilities."""
    p = np.asarray(probabilities, dtype=np.float32)[:, :9]
    total = p.sum(axis=1, keepdims=True)
    weights = np.divide(p, total, out=np.zeros_like(p), where=total > 0)
    va = np.clip(weights @ CENTROIDS, -1.0, 1.0)
    return va[:, 0].astype(np.float32), va[:, 1].astype(np.float32)
