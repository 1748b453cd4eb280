"""The one interface every suggester implements: a batch of 224x224 crops in, per face the
probability of each of the 11 categories, valence and arousal out."""
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class Predictions:
    """Model outputs for N faces.

    probabilities: float32 (N, 11), rows sum to 1, a category the model lacks gets 0.
    valence, arousal: float32 (N,) in [-1, 1].
    """

    probabilities: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray

    def __post_init__(self):
        n = self.probabilities.shape[0]
        if self.probabilities.shape != (n, 11) or self.valence.shape != (n,) or self.arousal.shape != (n,):
            raise ValueError(
                f"predictions of mismatched shapes: {self.probabilities.shape}, {self.valence.shape}, "
                f"{self.arousal.shape}"
            )


class ExpressionModel(Protocol):
    """What the worker calls; one instance is loaded per worker process."""

    name: str
    version: str

    def predict(self, crops: np.ndarray) -> Predictions:
        """Predict for uint8 RGB crops of shape (N, 224, 224, 3)."""
        ...
