"""How the review pages' reads grow with the number of faces.

    DATABASE_URL=postgres://... python benchmarks/bench_review.py --sizes 10000 100000

For each size it fills the database inside a transaction (faces, one answer each plus a second on
10% of them, a suggestion per face, open flags on 5%), times the queue, the item page's reads and
every part of the dashboard, and rolls everything back. The table shows seconds per size and the
ratio of the largest size's time to the smallest's, beside the ratio of the sizes: a read that
aggregates in the database should grow no faster than the data.
"""
import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.db import transaction  # noqa: E402

from annotator.models import Annotation, Face, Project, Suggester, Suggestion  # noqa: E402
from annotator.suggestions.selectors import suggester_active  # noqa: E402
from annotator.training.selectors import suggester_evaluate  # noqa: E402
from reviews import dashboard, evaluation, selectors  # noqa: E402
from reviews.models import Flag  # noqa: E402


def _active(suggester):
    """Make the suggester the default project's active one (no suggestions queued); return it."""
    Project.objects.filter(pk=Project.objects.default().pk).update(active_suggester=suggester)
    return suggester


class Rollback(Exception):
    pass


def fill(n, rng):
    users = [User.objects.create_user(f"bench-annotator-{i}") for i in range(20)]
    Project.objects.update(active_suggester=None)
    model = _active(Suggester.objects.create(name="bench", version="1"))
    batch = 5000
    first_id = (Face.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    for start in range(0, n, batch):
        faces, answers, suggestions, flags = [], [], [], []
        for i in range(start, min(n, start + batch)):
            fid = first_id + i
            category = rng.choice([0, 1, 1, 1, 2, 3, 6, 8, 10])
            va = (None, None) if category == 10 else (rng.uniform(-0.9, 0.9), rng.uniform(-0.9, 0.9))
            double = rng.random() < 0.10
            flagged = double and rng.random() < 0.5
            faces.append(Face(id=fid, image=f"bench/{fid}.jpg", content_hash=f"bench{fid:058d}",
                              split="val" if rng.random() < 0.05 else "train", required_annotations=2 if double else 1,
                              answer_count=2 if double else 1, needs_review=flagged,
                              final_category=None if flagged else category, final_valence=None if flagged else va[0],
                              final_arousal=None if flagged else va[1], final_source="" if flagged else "agreement"))
            who = rng.sample(users, 2)
            answers.append(Annotation(face_id=fid, annotator=who[0], category=category, valence=va[0], arousal=va[1],
                                      seconds_spent=rng.uniform(2, 12), shown_blind=rng.random() < 0.05,
                                      kept_suggestion=rng.random() < 0.6))
            if double:
                other = category if rng.random() < 0.6 else rng.choice([0, 1, 2, 3, 6])
                ova = (None, None) if other == 10 else (rng.uniform(-0.9, 0.9), rng.uniform(-0.9, 0.9))
                answers.append(Annotation(face_id=fid, annotator=who[1], category=other, valence=ova[0],
                                          arousal=ova[1], seconds_spent=rng.uniform(2, 12)))
            probs = [0.02] * 11
            probs[category] = 0.8
            suggestions.append(Suggestion(face_id=fid, suggester=model, probabilities=probs, category=category,
                                          confidence=0.8, valence=va[0], arousal=va[1]))
            if flagged:
                flags.append(Flag(face_id=fid, reason=rng.choice(Flag.Reason.values), key="bench",
                                  severity=rng.random(), evidence={"bench": True}))
        Face.objects.bulk_create(faces)
        Annotation.objects.bulk_create(answers)
        Suggestion.objects.bulk_create(suggestions)
        Flag.objects.bulk_create(flags)
    return first_id


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(n, seed):
    rng = random.Random(seed)
    results = {}
    try:
        with transaction.atomic():
            t_fill = timed(lambda: fill(n, rng))
            print(f"  {n} faces stored in {t_fill:.1f} s", file=sys.stderr)
            from django.db import connection

            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:  # what autovacuum would do after a big import
                    cursor.execute("ANALYZE")
            project = Project.objects.default()
            scope = {project.pk}  # a reviewer of the one project (None, an admin's, filters nothing)
            evaluation.agreement(scope=scope)  # warm up: imports scikit-learn, statsmodels
            face_id = selectors.review_next_face_id(scope=scope)
            results["queue: first page + count"] = timed(
                lambda: (selectors.review_queue(scope=scope)["rows"], selectors.review_faces_left(scope=scope)))
            results["queue: counts per reason"] = timed(lambda: selectors.review_reason_counts(scope=scope))
            results["queue: next face"] = timed(lambda: selectors.review_next_face_id(scope=scope, exclude=[face_id]))
            results["item: one face"] = timed(lambda: selectors.face_review_item(face_id=face_id, with_audit=True))
            results["dashboard: progress"] = timed(lambda: dashboard.progress_per_split(project=project))
            results["dashboard: categories"] = timed(lambda: dashboard.category_distribution(project=project))
            agree = {}
            results["dashboard: agreement"] = timed(lambda: agree.update(evaluation.agreement(scope=scope)))
            results["dashboard: annotators"] = timed(
                lambda: dashboard.annotator_stats(agree["per_annotator"], project=project))
            results["dashboard: annotator vs model"] = timed(
                lambda: dashboard.annotator_vs_model_confusion(project=project))
            results["dashboard: V/A histogram"] = timed(lambda: dashboard.va_histogram(project=project))
            model = suggester_active(project)
            results["evaluate (val split)"] = timed(lambda: suggester_evaluate(model, "val", projects=[project]))
            results["dashboard: whole page data"] = timed(lambda: dashboard.dashboard_data(project=project))
            results["dashboard: projects side by side"] = timed(
                lambda: dashboard.projects_overview(Project.objects.all()))
            raise Rollback
    except Rollback:
        pass
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from django.db import connection

    print(f"database: {connection.vendor}", file=sys.stderr)
    runs = {n: measure(n, args.seed) for n in args.sizes}
    small, large = min(args.sizes), max(args.sizes)
    header = ["read", *[f"{n} faces (s)" for n in args.sizes], f"x{large // small} data: time ratio"]
    rows = []
    for name in runs[small]:
        base = runs[small][name]
        rows.append([name, *[f"{runs[n][name]:.3f}" for n in args.sizes],
                     f"{runs[large][name] / base:.1f}" if base > 0 else "-"])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))


if __name__ == "__main__":
    main()
