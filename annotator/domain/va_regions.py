"""Where each category's valence/arousal point is expected to lie (Django-free).

The centres are approximate positions of the categories on Russell's circumplex of affect
(Russell, "A circumplex model of affect", 1980), placed in AffectNet's [-1, 1] valence/arousal
square; they are an estimate read off the circumplex, not means measured on AffectNet. The radii are
generous on purpose: a point outside its region is a reason to look again, not a verdict. The
annotate page reads the same table (regions_for_page()), so the page and the flags agree.
"""
import math

# category -> centre (valence, arousal) and radius in V/A units.
REGIONS = {
    0: {"center": (0.0, 0.0), "radius": 0.6},  # Neutral
    1: {"center": (0.6, 0.25), "radius": 0.75},  # Happiness
    2: {"center": (-0.6, -0.3), "radius": 0.75},  # Sadness
    3: {"center": (0.15, 0.65), "radius": 0.8},  # Surprise
    4: {"center": (-0.45, 0.65), "radius": 0.7},  # Fear
    5: {"center": (-0.6, 0.3), "radius": 0.7},  # Disgust
    6: {"center": (-0.5, 0.6), "radius": 0.7},  # Anger
    7: {"center": (-0.45, 0.2), "radius": 0.7},  # Contempt
}
# None (8) may lie anywhere; Uncertain (9) and No-Face (10) carry no point.


def point_in_region(category: int, valence: float, arousal: float) -> bool:
    """Return whether (valence, arousal) lies in the category's expected region (True where none is defined)."""
    region = REGIONS.get(int(category))
    if region is None or valence is None or arousal is None:
        return True
    cv, ca = region["center"]
    return math.hypot(valence - cv, arousal - ca) <= region["radius"]


def regions_for_page() -> dict:
    """Return the regions as plain data for the annotate page: {"<category>": {valence, arousal, radius}}."""
    return {
        str(k): {"valence": r["center"][0], "arousal": r["center"][1], "radius": r["radius"]}
        for k, r in REGIONS.items()
    }
