"""AffectNet's eleven expression categories and the valence/arousal rules (Django-free)."""
import math

from annotator.domain.errors import DomainError

NEUTRAL, HAPPINESS, SADNESS, SURPRISE, FEAR, DISGUST, ANGER, CONTEMPT, NONE, UNCERTAIN, NO_FACE = range(11)

CATEGORY_NAMES = (
    "Neutral",
    "Happiness",
    "Sadness",
    "Surprise",
    "Fear",
    "Disgust",
    "Anger",
    "Contempt",
    "None",
    "Uncertain",
    "No-Face",
)
NUM_CATEGORIES = len(CATEGORY_NAMES)

# Uncertain and No-Face carry no valence/arousal; AffectNet's files write -2 for them.
CATEGORIES_WITHOUT_VA = frozenset({UNCERTAIN, NO_FACE})
VA_SENTINEL = -2.0

# Manually annotated counts (train + val) from the AffectNet paper, for comparison charts and
# for ordering the queue rarest-first.
AFFECTNET_COUNTS = (75374, 134915, 25959, 14590, 6878, 4303, 25382, 4250, 33588, 12145, 82915)


def parse_categories(text: str) -> list[int]:
    """Return the categories of a text like "0-7" or "0,1,5-7,10", or raise ValueError naming the bad part."""
    chosen = set()
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if not low and not dash:
            continue
        try:
            values = range(int(low), int(high) + 1) if dash else [int(low)]
        except ValueError:
            values = None
        if not values:  # not numbers, or a range running backwards
            raise ValueError(f"--categories: {part.strip()!r} is not a category or a range like 0-7")
        if min(values) < 0 or max(values) >= NUM_CATEGORIES:
            raise ValueError(f"--categories: {part.strip()!r} is outside 0-{NUM_CATEGORIES - 1}")
        chosen.update(values)
    if not chosen:
        raise ValueError(f"--categories: {text!r} names no category")
    return sorted(chosen)


def has_va(category: int) -> bool:
    """Return whether answers of this category carry valence and arousal."""
    return category not in CATEGORIES_WITHOUT_VA


class LabelError(DomainError, ValueError):
    """An impossible label: unknown category or valence/arousal out of range.

    `field` is the part at fault (category, valence or arousal); None for a point outside the
    circle, which neither value alone puts there.
    """


def validate_label(category, valence, arousal, *, field_prefix=""):
    """Check one (category, valence, arousal) triple; return it normalised.

    Valence/arousal are None for Uncertain and No-Face (the -2 sentinel is accepted and mapped to
    None), and floats in [-1, 1] otherwise.
    """
    try:
        category = int(category)
    except (TypeError, ValueError):
        raise LabelError(f"not an integer: {category!r}", field=f"{field_prefix}category") from None
    if not 0 <= category < NUM_CATEGORIES:
        raise LabelError(f"{category} is not a category (0-10)", field=f"{field_prefix}category")
    if not has_va(category):
        for name, value in (("valence", valence), ("arousal", arousal)):
            if value is not None and float(value) != VA_SENTINEL:
                raise LabelError(
                    f"must be empty (or -2) for {CATEGORY_NAMES[category]}, got {value!r}", field=f"{field_prefix}{name}"
                )
        return category, None, None
    checked = []
    for name, value in (("valence", valence), ("arousal", arousal)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise LabelError(f"not a number: {value!r}", field=f"{field_prefix}{name}") from None
        if not -1.0 <= value <= 1.0:
            raise LabelError(f"{value} is outside [-1, 1]", field=f"{field_prefix}{name}")
        checked.append(value)
    return category, checked[0], checked[1]


# Rounding slack only: the pages keep the point inside the circle and round it towards the centre.
DISC_TOLERANCE = 1e-6


def validate_point_in_circle(valence, arousal) -> None:
    """Refuse a valence/arousal point outside the unit circle, which the pages never let anyone place.

    Raises a LabelError with no field, naming both values in its message: neither value alone is
    wrong. (Imports skip this check: AffectNet's files only promise each value in [-1, 1].)
    """
    if valence is None or arousal is None:
        return
    radius = math.hypot(valence, arousal)
    if radius > 1.0 + DISC_TOLERANCE:
        raise LabelError(
            f"valence, arousal: the point ({valence:+.3f}, {arousal:+.3f}) lies outside the valence-arousal "
            f"circle (its distance from the centre is {radius:.3f}; at most 1)"
        )


def rarity_priority(category: int) -> float:
    """Return how rare a category is in AffectNet (log of most common count / its count).

    The queue serves faces with a higher value first, so annotators' time goes to Contempt and
    Disgust before Happy and Neutral. Happiness gives 0, Contempt about 3.46.
    """
    return math.log(max(AFFECTNET_COUNTS) / AFFECTNET_COUNTS[int(category)])
