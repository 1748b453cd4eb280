"""Three simulated annotators of known accuracy label 500 faces with a deliberately biased model's help.

    DEBUG=1 python benchmarks/simulate_annotators.py [--faces 500] [--blind-share 0.2] [--seed 0]

The model says Anger for more than half the faces whatever they show. Each annotator labels the same
500 val faces alone (one answer a face, the default), through the real queue (blind share, gold
faces) and answer services, in a scratch SQLite database (or DATABASE_URL, rolled back):

- careful: right 90% of the time, never swayed by the suggestion;
- swayed: right 75% on their own, but keeps a shown suggestion 40% of the time;
- keeper: keeps every shown suggestion (Enter, Enter); on blind faces right 55% of the time.

The table shows, per annotator, what the tool measures (the dashboard's anchoring: kept the shown
suggestion vs matched the model when blind; gold accuracy) and the model's accuracy judged three ways:
against every final label (what evaluation did before), honestly (annotator.training.selectors.
suggester_evaluate: labels independent of the suggestion, with n and a 95% interval), and against the
simulated truth. Only the honest evaluation stays near the truth whoever labelled.
"""
import argparse
import os
import random
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.config.settings")
_scratch = None
if not os.environ.get("DATABASE_URL"):
    _scratch = tempfile.TemporaryDirectory(prefix="simulate-annotators-")
    os.environ["DATABASE_URL"] = f"sqlite:///{_scratch.name}/simulation.sqlite3"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from annotator import signals  # noqa: E402
from annotator.domain.categories import CATEGORY_NAMES  # noqa: E402
from annotator.domain.evaluation_tables import interval_text, number, text_table  # noqa: E402
from annotator.domain.va_regions import REGIONS  # noqa: E402
from annotator.models import Face, Project, ProjectMembership, Suggester, Suggestion  # noqa: E402
from annotator.queue.services import annotation_submit, queue_claim  # noqa: E402
from annotator.suggestions.inference.base import Predictions  # noqa: E402
from annotator.training.evaluation import evaluate_predictions  # noqa: E402
from annotator.training.selectors import suggester_evaluate  # noqa: E402
from reviews.dashboard import annotator_stats  # noqa: E402
from reviews.services import gold_mark  # noqa: E402


def _active(suggester):
    """Make the suggester the default project's active one (no suggestions queued); return it."""
    Project.objects.filter(pk=Project.objects.default().pk).update(active_suggester=suggester)
    return suggester


EIGHT = list(range(8))
# AffectNet-like: many Neutral and Happy faces, few of the rest.
TRUTH_SHARES = [0.25, 0.35, 0.10, 0.08, 0.05, 0.04, 0.08, 0.05]
ANGER = 6
MODEL_RIGHT = 0.45  # otherwise the model says Anger
ANNOTATORS = {  # name: (right on their own, share of shown suggestions kept whatever they show)
    "careful": (0.90, 0.0),
    "swayed": (0.75, 0.4),
    "keeper": (0.55, 1.0),
}


class Rollback(Exception):
    pass


def point(category, rng):
    """A point near the category's centre, inside the circle."""
    cv, ca = REGIONS[category]["center"]
    v, a = cv + rng.gauss(0, 0.1), ca + rng.gauss(0, 0.1)
    scale = max(1.0, (v * v + a * a) ** 0.5 / 0.99)
    return round(v / scale, 3), round(a / scale, 3)


def make_world(n_faces, rng):
    """Faces with a hidden true label, the biased model's suggestion for each, 5% of them gold."""
    truth = {}
    model = _active(Suggester.objects.create(name="biased", version="1"))
    lead = User.objects.create_user("lead")
    for i in range(n_faces):
        face = Face.objects.create(image=f"sim/{i}.jpg", content_hash=f"sim{i:061d}", split="val")
        category = rng.choices(EIGHT, TRUTH_SHARES)[0]
        truth[face.id] = (category, *point(category, rng))
        said = category if rng.random() < MODEL_RIGHT else ANGER
        probabilities = [0.02] * 11
        probabilities[said] = 0.8
        valence, arousal = point(said, rng)
        Suggestion.objects.create(face=face, suggester=model, probabilities=probabilities, category=said,
                                  confidence=0.8, valence=valence, arousal=arousal)
        if i % 20 == 0:  # a gold face: its known label is the truth
            gold_mark(face=face, category=category, valence=truth[face.id][1], arousal=truth[face.id][2], by=lead)
    return model, truth


def label_all(user, right, keeps, truth, rng):
    """Let one annotator answer every face the queue hands them; return their answers {face: category}."""
    answers = {}
    while True:
        items = queue_claim(annotator=user, count=8)
        if not items:
            return answers
        for item in items:
            shown = item.suggestion
            if shown is not None and rng.random() < keeps:
                category, valence, arousal = shown.category, shown.valence, shown.arousal
            else:
                true_category = truth[item.face_id][0]
                category = true_category if rng.random() < right else rng.choice(
                    [c for c in EIGHT if c != true_category])
                valence, arousal = point(category, rng)
            annotation_submit(face=item.face_id, annotator=user, category=category, valence=valence, arousal=arousal,
                              client_key=uuid.uuid4(), seconds_spent=3.0,
                              suggestion_id=None if shown is None else shown.id, outside_region_confirmed=True)
            answers[item.face_id] = category


def model_accuracy_on_every_final_label(model):
    """What evaluation reported before: the model against every final label, kept suggestions too."""
    rows = list(Suggestion.objects.filter(suggester=model, face__final_category__in=EIGHT).values_list(
        "face__final_category", "face__final_valence", "face__final_arousal", "probabilities", "valence", "arousal"))
    predictions = Predictions(np.array([r[3] for r in rows]), np.array([r[4] for r in rows]),
                              np.array([r[5] for r in rows]))
    table = evaluate_predictions([r[:3] for r in rows], predictions, categories=EIGHT, resamples=0)
    return table["categorical"]["acc"], table["categorical"]["n"]


def simulate(name, right, keeps, args):
    rng = random.Random(args.seed)
    random.seed(args.seed)  # the queue's blind and gold draws
    model, truth = make_world(args.faces, rng)
    user = User.objects.create_user(name)
    user.groups.add(Group.objects.get_or_create(name="annotator")[0])
    ProjectMembership.objects.create(project=Project.objects.default(), user=user)
    answers = label_all(user, right, keeps, truth, random.Random(f"{name}-{args.seed}"))
    stats = {row["annotator"]: row for row in annotator_stats({}, project=Project.objects.default())}[name]
    honest = suggester_evaluate(model, "val", categories=EIGHT)
    every_acc, every_n = model_accuracy_on_every_final_label(model)
    said = dict(Suggestion.objects.filter(suggester=model).values_list("face_id", "category"))
    model_truth = np.mean([said[f] == truth[f][0] for f in truth])
    annotator_truth = np.mean([answers[f] == truth[f][0] for f in answers])
    star = "" if honest["meaningful"]["categorical"] else "*"
    return [
        name, f"{right:.2f}" + (f", keeps {keeps:.0%}" if keeps else ""), f"{annotator_truth:.2f}",
        number(stats["kept_rate"]), number(stats["blind_match_rate"]),
        f"{number(stats['gold_accuracy'])} (n={stats['gold_answers']})",
        f"{number(every_acc)} (n={every_n})",
        f"{number(honest['categorical']['acc'])}{star} {interval_text(honest['intervals']['categorical']['acc'])} "
        f"(n={honest['categorical']['n']})",
        f"{model_truth:.2f}",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=500)
    parser.add_argument("--blind-share", type=float, default=0.2,
                        help="share of faces shown blind (BLIND_SHARE; the default setting is 0.05)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if _scratch is not None:
        call_command("migrate", verbosity=0)
    settings.BLIND_SHARE = args.blind_share
    settings.QUEUE_ORDER = "arrival"
    # No broker here: the flags' receivers would queue a task per answer. Flags play no part in this.
    signals.answer_saved.disconnect(dispatch_uid="reviews.flags.answer_saved")
    signals.suggestions_saved.disconnect(dispatch_uid="reviews.flags.suggestions_saved")
    rows = []
    for name, (right, keeps) in ANNOTATORS.items():
        try:
            with transaction.atomic():
                rows.append(simulate(name, right, keeps, args))
                raise Rollback
        except Rollback:
            pass
    print(f"{args.faces} val faces, {CATEGORY_NAMES[ANGER]} said by the model unless it is right "
          f"({MODEL_RIGHT:.0%} of faces); blind share {args.blind_share}, gold share {settings.GOLD_SHARE}, "
          f"one annotator a face; EVALUATION_MIN_N {settings.EVALUATION_MIN_N} (* below it)")
    print()
    print(text_table(
        ["annotator", "set to be right", "right", "kept shown suggestion", "matched model when blind",
         "gold accuracy", "model ACC vs every final label", "model ACC, honest [95%]", "model ACC vs truth"],
        rows))


if __name__ == "__main__":
    main()
