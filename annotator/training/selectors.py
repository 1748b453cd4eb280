"""Reads of the learning loop: how a recorded suggester does against the final labels."""

import numpy as np

from annotator.domain.categories import NUM_CATEGORIES
from annotator.models import Face, Suggester, Suggestion
from annotator.suggestions.inference.base import Predictions
from annotator.training.evaluation import evaluate_predictions


def suggester_evaluate(suggester: Suggester, split: str | None = "val", categories=None) -> dict:
    """Compare a suggester's stored suggestions with the final labels of a split (None: every split).

    The seed's table (evaluation.evaluate_predictions) over every face with a final label and a
    suggestion; valence/arousal over those whose final category and suggestion both carry a point.
    Faces with a final label but no suggestion from this model are counted in `missing`. With
    `categories` (e.g. 0-7, the seed's eight-label setting), only faces whose final label is one of
    them count, and the model chooses among them only (its probabilities for those categories,
    renormalised). Works for any Suggester row, so the training side can judge the model it just
    recorded, and the dashboard, the API and the `evaluate` command show the same numbers.
    """
    labels = list(range(NUM_CATEGORIES)) if categories is None else sorted(int(c) for c in categories)
    faces = Face.objects.filter(final_category__in=labels)
    if split:
        faces = faces.filter(split=split)
    rows = Suggestion.objects.filter(suggester=suggester, face__in=faces).values_list(
        "face__final_category", "face__final_valence", "face__final_arousal", "probabilities", "valence", "arousal"
    )
    truth, probabilities, valence, arousal = [], [], [], []
    for category, final_valence, final_arousal, probs, s_valence, s_arousal in rows.iterator(chunk_size=5000):
        truth.append((category, final_valence, final_arousal))
        probabilities.append(probs)
        valence.append(np.nan if s_valence is None else s_valence)  # no point: left out of valence/arousal
        arousal.append(np.nan if s_arousal is None else s_arousal)
    predictions = Predictions(np.asarray(probabilities, dtype=np.float64).reshape(-1, NUM_CATEGORIES),
                              np.asarray(valence, dtype=np.float64), np.asarray(arousal, dtype=np.float64))
    table = evaluate_predictions(truth, predictions, categories=labels)
    total = faces.count()
    return {
        "model": f"{suggester.name}:{suggester.version}",
        "split": split or "all",
        "categories": labels,
        "faces": total,
        "missing": total - len(truth),
        "categorical": table["categorical"],
        "valence": table["valence"],
        "arousal": table["arousal"],
    }
