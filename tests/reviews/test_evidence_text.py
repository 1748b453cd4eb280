"""A flag's evidence in words, as the queue page prints it (reviews/evidence_text.py)."""
from reviews.evidence_text import evidence_text


def test_answers_by_annotator_model_and_distance():
    evidence = {
        "answers": [{"annotation_id": 1, "category": 1, "point": [0.62, 0.31]},
                    {"annotation_id": 2, "category": 3, "point": [0.15, 0.82]}],
        "category_differs": True, "va_distance": 0.6935416353759881,
    }
    assert evidence_text(evidence, {1: "ann1", 2: "ann2"}) == (
        "ann1: 1 Happiness (+0.62, +0.31) · ann2: 3 Surprise (+0.15, +0.82) · points 0.69 apart")


def test_suggestion_gold_no_point_categories_and_unknown_answers():
    evidence = {
        "answer": {"annotation_id": 9, "category": 10, "point": [None, None]},
        "suggestion": {"category": 6, "point": [-0.49815666675567627, 0.6], "probability": 0.72,
                       "probability_of_answer": 0.028000000000000004},
        "gold": {"category": 0, "point": [0.0, -0.1]},
    }
    assert evidence_text(evidence, {}) == (
        "an earlier answer: 10 No-Face · model: 6 Anger (-0.50, +0.60), 72% · gold: 0 Neutral (+0.00, -0.10)")


def test_imported_cause_kept_outside_and_other_keys():
    evidence = {"answer": {"annotation_id": 3, "category": 2, "point": [0.5, 0.5]}, "confirmed_by_annotator": True,
                "cause": "outside_region", "why": "test"}
    assert evidence_text(evidence, {3: "imp"}) == (
        "the imported point is outside its category's region · imp: 2 Sadness (+0.50, +0.50) · "
        "kept outside the region by the annotator · why: test")
