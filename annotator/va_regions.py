"""Where each category's valence/arousal point usually lies (a circle per category).

AffectNet's annotation tool drew an expected region for each category on the circumplex; a point far
outside it is more often a slip than a judgement, so the page asks to confirm it. The centres follow the
category means of the AffectNet paper's valence/arousal figure (Mollahosseini et al., 2017, Fig. 6),
and the radii are wide enough to hold most of each category's cloud. Django-free.
"""
import math

from .categories import CATEGORIES_WITHOUT_VA, NONE

# category -> (valence centre, arousal centre, radius)
REGIONS = {
    0: (0.0, 0.0, 0.35),  # Neutral
    1: (0.6, 0.25, 0.5),  # Happiness
    2: (-0.6, -0.3, 0.5),  # Sadness
    3: (0.2, 0.65, 0.5),  # Surprise
    4: (-0.45, 0.65, 0.45),  # Fear
    5: (-0.65, 0.35, 0.45),  # Disgust
    6: (-0.55, 0.55, 0.45),  # Anger
    7: (-0.45, 0.2, 0.45),  # Contempt
}


def region(category: int):
    """Return (valence, arousal, radius) of the category's expected region, or None where any point fits."""
    category = int(category)
    if category == NONE or category in CATEGORIES_WITHOUT_VA:
        return None
    return REGIONS.get(category)


def point_in_region(category: int, valence, arousal) -> bool:
    """Return whether the point lies in the category's expected region (True where the category has none)."""
    found = region(category)
    if found is None or valence is None or arousal is None:
        return True
    cv, ca, radius = found
    return math.hypot(float(valence) - cv, float(arousal) - ca) <= radius


def regions_for_page() -> dict:
    """Return the regions as plain data for the annotate page (JSON)."""
    return {str(c): {"valence": v, "arousal": a, "radius": r} for c, (v, a, r) in REGIONS.items()}
