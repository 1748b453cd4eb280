"""A flag's evidence as a reviewer reads it (the queue page), in the words the item page uses
(static/js/review-item.js, evidenceText): "ann1: 1 Happiness (+0.62, +0.31) · ann2: 3 Surprise
(+0.15, +0.82) · points 0.69 apart". The item page names answers by their letter, the queue by
their annotator."""
from annotator.domain.categories import CATEGORY_NAMES, has_va

# Keys written out below; any other key of the evidence is printed as "key: value".
SHOWN = {"answer", "answers", "suggestion", "gold", "va_distance", "confirmed_by_annotator", "category_differs",
         "cause", "probability_of_answer", "spot_check"}
IMPORTED_CAUSES = {
    "annotator_vs_model": "the model disagrees with the imported label",
    "outside_region": "the imported point is outside its category's region",
    "gold_mismatch": "the imported label differs from the gold label",
}


def label_text(category, point=None) -> str:
    """Return "1 Happiness (+0.62, +0.31)"; the point only for categories that have one."""
    if not isinstance(category, int) or not 0 <= category < len(CATEGORY_NAMES):
        return str(category)
    text = f"{category} {CATEGORY_NAMES[category]}"
    if has_va(category) and point and len(point) == 2 and None not in point:
        text += f" ({point[0]:+.2f}, {point[1]:+.2f})"
    return text


def spot_check_text(spot: dict) -> str:
    """Return "spot check of the agreed label 1 Happiness (+0.62, +0.31), drawn by lead (5% of 240 agreed
    faces, seed 0)"."""
    agreed = spot.get("agreed") or {}
    asked = (f"{100 * spot['share']:g}%" if isinstance(spot.get("share"), (int, float))
             else f"{spot.get('count')} faces")
    return (f"spot check of the agreed label {label_text(agreed.get('category'), agreed.get('point'))}, "
            f"drawn by {spot.get('by', 'the lead')} ({asked} of {spot.get('of', '?')} agreed faces, "
            f"seed {spot.get('seed', '?')})")


def evidence_text(evidence: dict, names: dict) -> str:
    """Return the evidence in words; names maps an answer's id to who gave it."""
    def who(x):
        return names.get(x.get("annotation_id"), "an earlier answer")

    answers = evidence.get("answers") or ([evidence["answer"]] if evidence.get("answer") else [])
    parts = [f"{who(a)}: {label_text(a.get('category'), a.get('point'))}" for a in answers]
    if s := evidence.get("suggestion"):
        share = f", {round(100 * s['probability'])}%" if isinstance(s.get("probability"), (int, float)) else ""
        parts.append(f"model: {label_text(s.get('category'), s.get('point'))}{share}")
    if g := evidence.get("gold"):
        parts.append(f"gold: {label_text(g.get('category'), g.get('point'))}")
    if isinstance(evidence.get("va_distance"), (int, float)):
        parts.append(f"points {evidence['va_distance']:.2f} apart")
    if evidence.get("confirmed_by_annotator"):
        parts.append("kept outside the region by the annotator")
    if isinstance(spot := evidence.get("spot_check"), dict):
        parts.insert(0, spot_check_text(spot))
    if cause := evidence.get("cause"):
        parts.insert(0, IMPORTED_CAUSES.get(cause, str(cause)))
    parts += [f"{k}: {v}" for k, v in evidence.items() if k not in SHOWN]
    return " · ".join(parts)
