"""Benchmark split assignment (the console's splits page, `assign_splits`) on PostgreSQL; print a table.

    BENCHMARKS=1 DATABASE_URL=postgres://.../some_db python manage.py bench_splits --faces 100000 1000000

For each size N it makes a project of its own (removed at the end; nothing else of the database is
touched) and inserts N faces with SQL (rows only: splits read no image): 70% alone in their photo,
30% in photos of three; categories skewed like AffectNet's; every tenth face unlabelled, with a
suggestion from the project's active model. Then it times, as the page does them:

- preview: split_plan (read the rows into numpy, the suggestions of unlabelled faces, assign);
- apply: splits_apply with the preview's digest (plans again under the project's lock, then the
  batched UPDATEs and the history row, in one transaction);

and, as the baseline, scikit-learn's StratifiedGroupKFold(10) on the same arrays (a 90/10 cut: one
fold of ten), up to --baseline-max faces (it takes minutes at a million): the ratio is its time over
the assignment's own (domain.splitting.assign on the same arrays). Peak memory is the process's.
"""
import resource
import time

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from annotator.domain.splitting import assign
from annotator.models import ConsoleAction, Face, Project, Suggester, Suggestion
from annotator.projects.services import project_create
from annotator.splits.selectors import SPLITS, split_plan
from annotator.splits.services import splits_apply

# Category of a face from a hash of its number: AffectNet-like shares (percent per category, in order).
CATEGORY_PERCENT = (30, 25, 8, 5, 3, 2, 7, 5, 5, 5, 5)

INSERT_FACES = """
INSERT INTO annotator_face (image, content_hash, source, split, required_annotations, answer_count, queue_priority,
    needs_review, final_category, final_valence, final_arousal, final_source, created_at, is_gold, project_id)
SELECT 'faces/' || h || '.jpg', h,
       '/photos/' || (CASE WHEN i %% 10 < 7 THEN i ELSE i - (i %% 3) END) || '.jpg',
       'unassigned', 2, 2, 0, false,
       CASE WHEN i %% 10 = 9 THEN NULL ELSE c END,
       CASE WHEN i %% 10 = 9 OR c >= 9 THEN NULL ELSE 0.1 END,
       CASE WHEN i %% 10 = 9 OR c >= 9 THEN NULL ELSE 0.1 END,
       CASE WHEN i %% 10 = 9 THEN '' ELSE 'agreement' END, now(), false, %s
FROM (SELECT i, md5(%s || ':' || i) AS h, {category} AS c FROM generate_series(1, %s) AS i) AS rows
"""


def _category_sql() -> str:
    """A CASE giving the category of face i from a hash of i, in CATEGORY_PERCENT's shares."""
    bucket = "((i::bigint * 2654435761) %% 1000003) %% 100"
    cases, upper = [], 0
    for category, percent in enumerate(CATEGORY_PERCENT[:-1]):
        upper += percent
        cases.append(f"WHEN {bucket} < {upper} THEN {category}")
    return f"(CASE {' '.join(cases)} ELSE {len(CATEGORY_PERCENT) - 1} END)"


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Command(BaseCommand):
    help = "Benchmark split assignment (preview and apply) per number of faces, against StratifiedGroupKFold."

    def add_arguments(self, parser):
        parser.add_argument("--faces", type=int, nargs="+", default=[100000])
        parser.add_argument("--baseline-max", type=int, default=100000,
                            help="run scikit-learn's StratifiedGroupKFold up to this many faces (default 100000)")

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench_splits runs on PostgreSQL: set DATABASE_URL=postgres://...")
        rows = [self._size(n, options["baseline_max"]) for n in options["faces"]]
        w = self.stdout.write
        w(f"{'faces':>9} | {'insert s':>8} | {'preview s':>9} | {'apply s':>7} | {'assign s':>8} | {'sgkf s':>7} | "
          f"{'sgkf/assign':>11} | {'val share':>9} | {'max err':>7} | {'sgkf err':>8} | {'peak MiB':>8}")
        w("-" * 121)
        for r in rows:
            sgkf = f"{r['sgkf']:>7.2f}" if r["sgkf"] is not None else f"{'-':>7}"
            ratio = f"{r['sgkf'] / r['assign']:>10.0f}x" if r["sgkf"] is not None else f"{'-':>11}"
            sgkf_err = f"{100 * r['sgkf_error']:>7.2f}%" if r["sgkf"] is not None else f"{'-':>8}"
            w(f"{r['faces']:>9,} | {r['insert']:>8.1f} | {r['preview']:>9.2f} | {r['apply']:>7.2f} | {r['assign']:>8.3f} | "
              f"{sgkf} | {ratio} | {r['val_share']:>9.4f} | {100 * r['error']:>6.2f}% | {sgkf_err} | {r['peak']:>8.0f}")
        w("max err: the largest gap between a split's share of a category (or of all faces) and the share asked "
          "(90/10); sgkf err: the same for StratifiedGroupKFold's fold.")

    def _size(self, faces: int, baseline_max: int) -> dict:
        slug = f"bench-splits-{faces}-{int(time.time())}"
        project = project_create(slug=slug, name=slug)
        model = Suggester.objects.create(name=slug, version="1")
        Project.objects.filter(pk=project.pk).update(active_suggester=model)
        project.refresh_from_db()
        try:
            self.stderr.write(f"{faces:,} faces: insert ...")
            started = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(INSERT_FACES.format(category=_category_sql()), [project.pk, slug, faces])
                cursor.execute(
                    "INSERT INTO annotator_suggestion (probabilities, category, confidence, valence, arousal, created_at,"
                    " face_id, suggester_id) SELECT '[0.04,0.04,0.04,0.6,0.04,0.04,0.04,0.04,0.04,0.04,0.04]'::jsonb,"
                    " (id %% 9)::smallint, 0.6, 0.1, 0.1, now(), id, %s FROM annotator_face"
                    " WHERE project_id = %s AND final_category IS NULL", [model.pk, project.pk])
                cursor.execute("ANALYZE annotator_face; ANALYZE annotator_suggestion")
            insert = time.perf_counter() - started
            self.stderr.write(f"{faces:,} faces: preview ...")
            started = time.perf_counter()
            plan = split_plan(project, {"train": 0.9, "val": 0.1}, seed=0)
            preview = time.perf_counter() - started
            self.stderr.write(f"{faces:,} faces: apply ...")
            started = time.perf_counter()
            summary = splits_apply(plan, expected_digest=plan.digest)
            apply = time.perf_counter() - started
            assert summary["changed"] == faces
            groups = np.unique(np.asarray(Face.objects.filter(project=project).order_by("id")
                                          .values_list("source", flat=True), dtype=object), return_inverse=True)[1]
            started = time.perf_counter()
            assign(plan.strata, groups, [0.9, 0.1], seed=0)
            own = time.perf_counter() - started
            sgkf = sgkf_error = None
            if faces <= baseline_max:
                from sklearn.model_selection import StratifiedGroupKFold

                self.stderr.write(f"{faces:,} faces: StratifiedGroupKFold ...")
                started = time.perf_counter()
                _, val = next(StratifiedGroupKFold(n_splits=10, shuffle=True, random_state=0)
                              .split(np.zeros(faces), plan.strata, groups))
                sgkf = time.perf_counter() - started
                in_val = np.zeros(faces, dtype=bool)
                in_val[val] = True
                gaps = [abs(in_val[plan.strata == s].mean() - 0.1) for s in np.unique(plan.strata)]
                sgkf_error = max([*gaps, abs(in_val.mean() - 0.1)])
            return {"faces": faces, "insert": insert, "preview": preview, "apply": apply, "assign": own, "sgkf": sgkf,
                    "sgkf_error": sgkf_error, "val_share": summary["counts"][SPLITS[1]] / faces,
                    "error": summary["largest_share_error"], "peak": _peak_mib()}
        finally:
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM annotator_suggestion WHERE suggester_id = %s", [model.pk])
                cursor.execute("DELETE FROM annotator_face WHERE project_id = %s", [project.pk])
            ConsoleAction.objects.filter(project=project).delete()
            Suggestion.objects.filter(suggester=model).delete()
            Project.objects.filter(pk=project.pk).update(active_suggester=None)
            model.delete()
            project.delete()
