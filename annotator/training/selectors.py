"""Reads of the learning loop: how a recorded suggester does against the final labels it did not shape.

A final label may echo a model: an annotator who keeps the pre-selected suggestion, a reviewer who
accepts it. Scored against such labels a model grades its own answers (ACC 1.00 on kept
suggestions). So the evaluation uses only the faces whose final label is independent of the
suggestion shown (evaluation_faces); the others are counted as left out.
"""
from collections import Counter

import numpy as np
from django.conf import settings
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, IntegerField, OuterRef, Q, Value

from annotator.domain.categories import NUM_CATEGORIES
from annotator.models import Annotation, Face, FinalSource, Suggester, Suggestion
from annotator.suggestions.inference.base import Predictions
from annotator.training.evaluation import evaluate_predictions


def independent_label_q(suggester: Suggester | None) -> Q:
    """Return a Q over faces: the final label does not depend on a suggestion this model could echo.

    Independent: an imported label, a gold reference, a reviewer's decision that is not this model's
    suggestion taken as it stands (same category and point), and an answer or agreement of
    annotators of whom at least one answered blind (shown no suggestion on purpose). A label that
    rests only on answers given with a suggestion in view is left out, whichever model suggested:
    a model trained on labels anchored on another would inherit that anchoring. suggester None: a
    model not recorded yet (being trained), which no one can have seen.
    """
    blind_answer = Annotation.objects.filter(face=OuterRef("pk"), shown_blind=True)
    reviewed = Q(final_source=FinalSource.REVIEW)
    if suggester is not None:
        # A suggestion of 9 or 10 does not exist (a model's guess carries a point), so no NULL compare.
        copies_model = Suggestion.objects.filter(
            face=OuterRef("pk"), suggester=suggester, category=OuterRef("final_category"),
            valence=OuterRef("final_valence"), arousal=OuterRef("final_arousal"),
        )
        reviewed &= ~Exists(copies_model)
    return (
        Q(final_source__in=[FinalSource.IMPORT, FinalSource.GOLD])
        | reviewed
        | (Q(final_source__in=[FinalSource.SINGLE, FinalSource.AGREEMENT]) & Exists(blind_answer))
    )


def _labels(categories) -> list[int]:
    return list(range(NUM_CATEGORIES)) if categories is None else sorted(int(c) for c in categories)


def _final_faces(split, labels, projects=None):
    faces = Face.objects.filter(final_category__in=labels)
    if projects is not None:
        faces = faces.filter(project__in=list(projects))
    return faces.filter(split=split) if split else faces


def evaluation_faces(suggester: Suggester | None, split: str | None = "val", categories=None, projects=None):
    """Return the faces a suggester is evaluated on (a queryset): final label in the categories and
    the split (None: every split), of the projects given (None: every project), and independent of its
    suggestion (independent_label_q)."""
    return _final_faces(split, _labels(categories), projects).filter(independent_label_q(suggester))


def evaluation_faces_pending(suggester: Suggester, split: str | None = "val", categories=None, projects=None):
    """Return the ids of the evaluation faces the suggester has no prediction for yet (a queryset, by id)."""
    has = Suggestion.objects.filter(face=OuterRef("pk"), suggester=suggester)
    return evaluation_faces(suggester, split, categories, projects).filter(~Exists(has)).order_by("id").values_list(
        "id", flat=True)


def suggester_evaluate(suggester: Suggester, split: str | None = "val", categories=None, projects=None) -> dict:
    """Compare a suggester's stored predictions with the independent final labels of a split (None: all).

    The seed's table (evaluation.evaluate_predictions), with n and a 95% bootstrap interval per measure
    and a mark where n is under EVALUATION_MIN_N, over the evaluation faces (evaluation_faces) that
    have this model's prediction; valence/arousal over those whose final category and prediction both
    carry a point. `faces` counts the evaluation faces, by final source in `sources`; `left_out` the
    faces with a final label whose label may echo a suggestion; `pending` the evaluation faces with
    no prediction of this model yet (annotator.training.services.evaluation_predictions_complete
    computes or queues them). With `categories` (e.g. 0-7, the seed's eight-label setting), only
    faces whose final label is one of them count, and the model chooses among them only. Works for
    any Suggester row, active or not; the dashboard, the API and the `evaluate` command show it.
    `projects` (Project rows or ids; None: every project) limits the faces to theirs; `active` says
    whether the model is the active one of any of them, `active_in` names those projects.
    """
    labels = _labels(categories)
    return evaluation_finalize(suggester, split, labels, projects,
                               evaluation_rows(suggester, split, labels, projects))


def evaluation_rows(suggester: Suggester, split: str | None, labels, projects=None, faces=None, group=None) -> dict:
    """Return what suggester_evaluate reads: "faces", (group, final source, independent of this model's
    suggestion, count) of the faces with a final label in `labels`, and "predictions", (face id, final
    category, valence, arousal, the model's probabilities, valence, arousal) of the evaluation faces
    with its prediction, in face id order. `faces`: a Q over the faces (e.g. id ranges) that narrows
    both; `group`: an expression over the faces the counts are grouped by (None: one group, 0), so that
    blocks of faces can be read apart and put together (reviews.aggregates keeps them per block)."""
    final = _final_faces(split, labels, projects)
    if faces is not None:
        final = final.filter(faces)
    independent = ExpressionWrapper(independent_label_q(suggester), output_field=BooleanField())
    face_rows = [(r["group"], r["final_source"], r["independent"], r["n"]) for r in final.order_by().annotate(
        independent=independent, group=group if group is not None else Value(0, output_field=IntegerField())).values(
        "group", "final_source", "independent").annotate(n=Count("id"))]
    evaluated = evaluation_faces(suggester, split, labels, projects)
    if faces is not None:
        evaluated = evaluated.filter(faces)
    rows = Suggestion.objects.filter(suggester=suggester, face__in=evaluated).order_by("face_id").values_list(
        "face_id", "face__final_category", "face__final_valence", "face__final_arousal", "probabilities", "valence",
        "arousal")
    return {"faces": face_rows, "predictions": list(rows.iterator(chunk_size=5000))}


def evaluation_finalize(suggester: Suggester, split: str | None, labels, projects, rows: dict, *,
                        keep=None) -> dict:
    """Return suggester_evaluate's table from evaluation_rows() (of all the faces, in face id order).
    keep(truth, predictions, options, compute): a caller's store of the measures (seeded, so the same
    inputs give the same measures); it returns compute()'s table or one it kept. compute(intervals=False)
    gives the measures without their bootstrap (its "intervals" all None), for a keep that adds intervals
    it kept from earlier (their "intervals_of" says of when and of how many faces)."""
    sources, left_out = Counter(), 0
    for _, final_source, is_independent, n in rows["faces"]:
        if is_independent:
            sources[final_source] += n
        else:
            left_out += n
    truth, probabilities, valence, arousal = [], [], [], []
    for _, category, final_valence, final_arousal, probs, s_valence, s_arousal in rows["predictions"]:
        truth.append((category, final_valence, final_arousal))
        probabilities.append(probs)
        valence.append(np.nan if s_valence is None else s_valence)  # no point: left out of valence/arousal
        arousal.append(np.nan if s_arousal is None else s_arousal)
    predictions = Predictions(np.asarray(probabilities, dtype=np.float64).reshape(-1, NUM_CATEGORIES),
                              np.asarray(valence, dtype=np.float64), np.asarray(arousal, dtype=np.float64))
    options = {"categories": labels, "resamples": settings.EVALUATION_RESAMPLES, "seed": settings.EVALUATION_SEED,
               "min_n": settings.EVALUATION_MIN_N}

    def compute(intervals: bool = True):
        return evaluate_predictions(truth, predictions, **{**options, "resamples": options["resamples"] if intervals else 0})

    table = compute() if keep is None else keep(truth, predictions, options, compute)
    total = sum(sources.values())
    active_projects = suggester.active_in_projects.order_by("id")
    if projects is not None:
        active_projects = active_projects.filter(pk__in=[getattr(p, "pk", p) for p in projects])
    active_in = list(active_projects.values_list("slug", flat=True))
    return {
        "model": f"{suggester.name}:{suggester.version}",
        "active": bool(active_in),
        "active_in": active_in,
        "split": split or "all",
        "categories": labels,
        "faces": total,
        "sources": {source.value: sources.get(source, 0) for source in
                    (FinalSource.SINGLE, FinalSource.AGREEMENT, FinalSource.REVIEW, FinalSource.IMPORT,
                     FinalSource.GOLD)},
        "left_out": left_out,
        "pending": total - len(truth),
        "categorical": table["categorical"],
        "valence": table["valence"],
        "arousal": table["arousal"],
        "intervals": table["intervals"],
        "meaningful": table["meaningful"],
        "min_n": table["min_n"],
        "resamples": table["resamples"],
        **({"intervals_of": table["intervals_of"]} if "intervals_of" in table else {}),
    }
