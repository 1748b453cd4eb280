"""The rules of calibration and pausing (Django-free): how an answer is scored against a gold face's
reference, when a calibration round is passed, and when a rolling gold accuracy pauses an annotator."""
import math
from dataclasses import dataclass
from typing import Iterable, Optional


def va_distance(a, b) -> Optional[float]:
    """Return the Euclidean distance of two (valence, arousal) points, None if either has none
    (Uncertain and No-Face carry no point)."""
    if None in (a[0], a[1], b[0], b[1]):
        return None
    return math.hypot(a[0] - b[0], a[1] - b[1])


@dataclass(frozen=True)
class CalibrationScore:
    """A calibration round's latest answers: how many, how many named the reference category, and
    the mean distance to the reference points (over the answers where both had a point)."""

    answers: int
    correct: int
    mean_va_distance: Optional[float]
    needed: int
    min_accuracy: float
    max_va_distance: float

    @property
    def accuracy(self) -> Optional[float]:
        return self.correct / self.answers if self.answers else None

    @property
    def passed(self) -> bool:
        """Enough answers, enough right categories, and points close enough (no point to compare: no
        distance to fail on)."""
        if self.needed <= 0:
            return True
        if self.answers < self.needed or self.accuracy < self.min_accuracy:
            return False
        return self.mean_va_distance is None or self.mean_va_distance <= self.max_va_distance

    def as_dict(self) -> dict:
        return {"answers": self.answers, "correct": self.correct, "accuracy": self.accuracy,
                "mean_va_distance": self.mean_va_distance, "needed": self.needed,
                "min_accuracy": self.min_accuracy, "max_va_distance": self.max_va_distance, "passed": self.passed}


def calibration_score(latest: Iterable[tuple], *, needed: int, min_accuracy: float,
                      max_va_distance: float) -> CalibrationScore:
    """Score the round's latest answers, given as (correct, va_distance or None), newest first.

    Only the latest `needed` count: an annotator who starts badly passes once their last `needed`
    answers are good, without having to outweigh every early mistake.
    """
    rows = list(latest)[: max(needed, 0)]
    distances = [d for _, d in rows if d is not None]
    return CalibrationScore(
        answers=len(rows), correct=sum(1 for ok, _ in rows if ok),
        mean_va_distance=sum(distances) / len(distances) if distances else None,
        needed=needed, min_accuracy=min_accuracy, max_va_distance=max_va_distance,
    )


def gold_pause_due(correct: Iterable[bool], *, min_answers: int, below: float) -> bool:
    """Return whether a rolling window of gold answers (True: the reference category) pauses the
    annotator: at least `min_answers` of them, and a share right under `below` (0 never pauses)."""
    results = list(correct)
    if below <= 0 or not results or len(results) < max(min_answers, 1):
        return False
    return sum(results) / len(results) < below
