"""Active learning: serve first the faces the active model is least sure of, mixed with rarity (Django-free).

Uncertainty is the entropy of the model's probabilities (Settles 2009, "Active Learning Literature
Survey", sec. 3.1, entropy sampling), divided by its largest possible value so it lies in [0, 1].
Rarity is the expected rarity of the face's category under the model: sum_c p_c * rarity_priority(c),
the rare-category order of the queue (Contempt about 3.46, Happiness 0). The mix puts both terms
on the rarity scale, so with both weights 1 a face the model cannot decide at all counts as much as
a sure Contempt.
"""
import math
from typing import Sequence

from annotator.domain.categories import NUM_CATEGORIES, rarity_priority

MAX_RARITY = max(rarity_priority(c) for c in range(NUM_CATEGORIES))


def uncertainty_priority(probabilities: Sequence[float]) -> float:
    """Return the normalised entropy of a probability vector: 0 when sure, 1 when uniform.

    Categories given exactly 0 (those a model does not have, e.g. 8-10 for an 8-class model) do not
    count towards the maximum, so an 8-class model unsure among its 8 reaches 1 too.
    """
    total = float(sum(probabilities))
    if total <= 0:
        raise ValueError("probabilities: they sum to 0")
    p = [float(x) / total for x in probabilities]
    if any(x < 0 for x in p):
        raise ValueError("probabilities: a negative value")
    support = sum(1 for x in p if x > 0)
    if support < 2:
        return 0.0
    entropy = -sum(x * math.log(x) for x in p if x > 0)
    return min(1.0, entropy / math.log(support))


def expected_rarity(probabilities: Sequence[float]) -> float:
    """Return the rarity of the face's category as the model expects it (the rarity order's scale)."""
    total = float(sum(probabilities))
    if total <= 0:
        raise ValueError("probabilities: they sum to 0")
    return sum(float(p) / total * rarity_priority(c) for c, p in enumerate(probabilities))


def mixed_priority(probabilities: Sequence[float], *, rarity_weight: float = 1.0, uncertainty_weight: float = 1.0) -> float:
    """Return a queue priority (higher is served first) mixing expected rarity and uncertainty."""
    return rarity_weight * expected_rarity(probabilities) + uncertainty_weight * MAX_RARITY * uncertainty_priority(
        probabilities
    )
