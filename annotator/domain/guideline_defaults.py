"""The default guideline of each of the 11 categories, as the product ships them (Django-free data).

Migration 0010 installed these in the instance's first guideline set; a project made later without a
project to copy from starts with them too (annotator.models.ProjectManager).
"""

DEFAULTS = {
    0: (
        "Neutral: the face at rest. Brows level, eyes open normally, mouth closed or relaxed; a face caught "
        "talking with no other sign counts. No emotion shows. Valence and arousal near the centre.",
        "Not a faint but real smile (Happiness) or frown (Sadness, Anger). Not a clear state outside the eight, "
        "such as tiredness or boredom (None). Not a face you cannot judge (Uncertain).",
    ),
    1: (
        "Happiness: lip corners pulled up and back on both sides, cheeks raised, often wrinkles at the outer "
        "eye corners; from a soft smile to laughter. Pleasant; arousal from calm (soft smile) to excited "
        "(laughter).",
        "Not a one-sided lip-corner raise or smirk (Contempt). Not an open mouth from talking or surprise "
        "without raised lip corners (Neutral, Surprise). Not a tense grimace showing teeth (Fear, Disgust, Anger).",
    ),
    2: (
        "Sadness: inner brow corners raised and drawn together, upper lids drooping, lip corners pulled down, "
        "the chin may push up and wrinkle; tears. Unpleasant and calm.",
        "Not a face that only looks tired or bored (None, or Neutral). Not brows lowered with pressed lips "
        "(Anger). Not brows raised with wide-open, tense eyes (Fear).",
    ),
    3: (
        "Surprise: brows raised high and curved, eyes wide open (white shows above the iris), jaw dropped with "
        "a relaxed open mouth. Aroused; mildly pleasant or unpleasant.",
        "Not wide eyes with brows drawn together and lips stretched back (Fear). Not a mouth open from "
        "speaking or yawning (Neutral, None).",
    ),
    4: (
        "Fear: brows raised and drawn together, upper lids raised, lower lids tense, lips stretched back "
        "towards the ears, mouth often open. Unpleasant and highly aroused.",
        "Not raised brows that are not drawn together over a relaxed dropped jaw (Surprise). Not lowered "
        "brows and a hard stare (Anger).",
    ),
    5: (
        "Disgust: nose wrinkled, upper lip raised on both sides (upper teeth may show), cheeks raised. "
        "Unpleasant, moderately aroused.",
        "Not a lip corner tightened or raised on one side only (Contempt). Not lowered brows with a glare and "
        "pressed or squared lips (Anger).",
    ),
    6: (
        "Anger: brows lowered and drawn together, a hard stare, lips pressed tight or open in a squared "
        "shout; nostrils may flare. Unpleasant and highly aroused.",
        "Not a face caught mid-word with no other sign (Neutral). Not squinting or concentrating (None or "
        "Neutral). Not a wrinkled nose with a raised upper lip (Disgust).",
    ),
    7: (
        "Contempt: one lip corner tightened and raised on one side of the face only (a smirk), often with the "
        "head tilted back, looking down the nose. Unpleasant, mildly aroused.",
        "Not a nose wrinkle or raised upper lip on both sides (Disgust). Not a smile on both sides "
        "(Happiness).",
    ),
    8: (
        "None: a clear, readable state that is none of the eight above, e.g. tiredness, boredom, sleepiness, "
        "pain, concentration, confusion, shame. Place the point where that state lies; it may be anywhere "
        "on the circle.",
        "Not a face at rest (Neutral). Not a face you cannot read, or cannot decide between two categories "
        "for (Uncertain).",
    ),
    9: (
        "Uncertain: a human face whose expression you cannot decide: ambiguous between categories, or too "
        "blurred, small, dark or covered to judge. No valence/arousal. Choose it rather than guess.",
        "Not a readable state outside the eight categories (None). Not a crop without a real human face "
        "(No-Face).",
    ),
    10: (
        "No-Face: the crop holds no real human face: a hand, background, an animal, a drawing, cartoon or "
        "statue, a face mostly cut off, or a watermark over the face. No valence/arousal.",
        "Not a real face that is hard to read (Uncertain). Not a face turned partly away that can still be "
        "read (label its expression).",
    ),
}
