"""Writes of split assignment: a plan applied in one transaction, with its record in the console's history."""
import numpy as np
from django.db import connection, transaction

from annotator.console.services import console_action_record
from annotator.domain.errors import CONFLICT, DomainError
from annotator.jobs.services import job_create
from annotator.models import Face, Job, Project
from annotator.splits.selectors import SPLITS, SplitPlan, split_plan

# Ids per UPDATE: well under SQLite's 32,766 parameters, and few statements at a million faces.
UPDATE_BATCH = 10000


class PlanChanged(DomainError):
    """The faces (or their splits) changed since the preview: the admin looks at the new preview first."""

    kind = CONFLICT


def _percent(share: float) -> str:
    return f"{100 * share:g}"


def plan_words(plan: SplitPlan) -> str:
    """"train/val 90/10 (seed 0) of 1,000 unassigned faces: train 900, val 100" — the history's summary."""
    counts = ", ".join(f"{name} {count:,}" for name, count in plan.counts.items())
    return (f"Assigned splits {'/'.join(SPLITS)} {'/'.join(_percent(plan.shares[s]) for s in SPLITS)} "
            f"(seed {plan.seed}) to {plan.total:,} {'unassigned ' if plan.faces == 'unassigned' else ''}faces: "
            f"{counts}; {plan.changed:,} changed")


def splits_apply(plan: SplitPlan, *, user=None, expected_digest: str | None = None) -> dict:
    """Write the plan's splits (only faces whose split changes), all or nothing, and record it in the
    console's history; return the plan's summary.

    expected_digest: the digest of the plan the admin saw; when the faces changed since (a new import,
    another assignment), the plan is computed again here and refused if it differs (PlanChanged).
    """
    with transaction.atomic():
        # One assignment per project at a time: a second one waits here, then plans again below.
        list(Project.objects.select_for_update().filter(pk=plan.project.pk).values_list("id", flat=True))
        if expected_digest is not None:
            fresh = split_plan(plan.project, plan.shares, faces=plan.faces, seed=plan.seed)
            if fresh.digest != expected_digest:
                raise PlanChanged("the faces changed since the preview; look at the new preview and apply it",
                                  field="digest")
            plan = fresh
        targets = np.asarray(SPLITS, dtype=object)[plan.split_index]
        moving = plan.current != targets
        table = connection.ops.quote_name(Face._meta.db_table)
        with connection.cursor() as cursor:
            for index, name in enumerate(SPLITS):
                ids = plan.face_ids[moving & (plan.split_index == index)].tolist()
                for start in range(0, len(ids), UPDATE_BATCH):
                    batch = ids[start:start + UPDATE_BATCH]
                    if connection.vendor == "postgresql":  # one array parameter: a fifth quicker than an IN list
                        cursor.execute(f"UPDATE {table} SET split = %s WHERE project_id = %s AND id = ANY(%s)",  # noqa: S608
                                       [name, plan.project.pk, batch])
                    else:
                        cursor.execute(
                            f"UPDATE {table} SET split = %s WHERE project_id = %s AND id IN ({', '.join(['%s'] * len(batch))})",  # noqa: S608
                            [name, plan.project.pk, *batch],
                        )
        summary = plan.summary()
        console_action_record(user, "splits.assign", plan_words(plan), project=plan.project, details=summary)
    return summary


def splits_apply_start(plan: SplitPlan, *, user) -> Job:
    """Start a console job that applies the previewed plan (manage.py assign_splits ... --expect-digest): it
    plans again when it runs and fails, writing nothing, if the faces changed since. The history gets the
    start here and, from splits_apply, what was written (or nothing, if the job fails)."""
    options = {"shares": ",".join(f"{name}={share!r}" for name, share in plan.shares.items()),
               "faces": plan.faces, "seed": plan.seed, "digest": plan.digest,
               "by": user.get_username() if user and user.is_authenticated else ""}
    with transaction.atomic():
        job = job_create(kind=Job.Kind.ASSIGN_SPLITS, options=options, user=user, project=plan.project)
        console_action_record(user, "splits.start",
                              f"started job {job.id}: assign the previewed splits {'/'.join(SPLITS)} "
                              f"{'/'.join(_percent(plan.shares[s]) for s in SPLITS)} (seed {plan.seed}) to "
                              f"{plan.total:,} {'unassigned ' if plan.faces == 'unassigned' else ''}faces",
                              project=plan.project, details={"job": job.id, "kind": job.kind, "options": options})
    return job
