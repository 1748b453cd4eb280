"""Reads for the dashboard: progress, distributions, per-annotator figures, confusion matrices.

Each figure is one aggregate query (GROUP BY in the database), so the page costs the same number
of queries at a thousand faces as at a million; only the agreement measures fetch rows, and those
only for faces with two or more answers.
"""
import hashlib
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    F,
    FloatField,
    Q,
    Value,
    Window,
)
from django.db.models.functions import Floor, Least, RowNumber
from django.utils import timezone

from annotator.domain.categories import AFFECTNET_COUNTS, CATEGORY_NAMES, NUM_CATEGORIES
from annotator.domain.evaluation_tables import SEED_BASELINE
from annotator.models import Annotation, Face, Project, Split
from annotator.qualification.selectors import standings_overview
from annotator.suggestions.selectors import suggester_active
from reviews import aggregates
from reviews.evaluation import PAPER_AGREEMENT
from reviews.models import Flag
from reviews.selectors import feedback_figures, gold_accuracy, projects_with_faces

VA_BINS = 20
CACHE_KEY = "reviews:dashboard:v1"
INTERVALS_TASK = "reviews.tasks.evaluation_intervals_refresh"
FIGURES_TASK = "reviews.tasks.dashboard_figures_refresh"
FIGURES_QUEUED_KEY = "reviews:dashboard-figures-queued"
INTERVALS_QUEUED_KEY = "reviews:evaluation-intervals-queued"
# A queued refresh whose mark outlives this was lost (a worker that died): the next recompute queues another.
INTERVALS_QUEUED_SECONDS = 600


class Median(Aggregate):
    """PostgreSQL's ordered-set median (other databases take the per-annotator fallback)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def progress_per_split(*, project) -> list:
    """Return per split of the project's faces: faces, answered (at least once), complete (all answers
    in), final, flagged (and of those, in for a spot check)."""
    rows = {
        r["split"]: r
        for r in Face.objects.filter(project_id=project.pk).order_by().values("split").annotate(
            faces=Count("id"),
            answered=Count("id", filter=Q(answer_count__gt=0)),
            complete=Count("id", filter=Q(answer_count__gte=F("required_annotations"))),
            final=Count("id", filter=Q(final_category__isnull=False)),
        )
    }
    flagged = dict(
        Flag.objects.filter(status=Flag.Status.OPEN, face__project_id=project.pk).order_by().values("face__split")
        .annotate(n=Count("face_id", distinct=True)).values_list("face__split", "n")
    )
    spot_checks = dict(  # of the flagged, those the lead drew for a second look
        Flag.objects.filter(status=Flag.Status.OPEN, reason=Flag.Reason.SPOT_CHECK, face__project_id=project.pk)
        .order_by().values("face__split").annotate(n=Count("face_id", distinct=True)).values_list("face__split", "n")
    )
    out = []
    for split in Split.values:
        row = rows.get(split, {"faces": 0, "answered": 0, "complete": 0, "final": 0})
        out.append({"split": split, "faces": row["faces"], "answered": row["answered"], "complete": row["complete"],
                    "final": row["final"], "flagged": flagged.get(split, 0), "spot_checks": spot_checks.get(split, 0)})
    return out


def answer_groups(*, project) -> list:
    """Return the project's answers counted per (annotator, category, shown blind, the active model's
    category on the face): one pass over the answers that the annotators' table, the answers per
    category and the annotator-vs-model matrix all read (each was a pass of its own over a million
    answers). Each row also counts the answering time, the suggestions shown and kept, and the
    answers a reviewer decided and overturned."""
    answers = Annotation.objects.filter(face__project_id=project.pk).order_by()
    return list(aggregates.answer_group_rows(answers, suggester_active(project)))


def category_distribution(*, project, groups=None, final=None) -> dict:
    """Return counts per category of the project's final labels and answers, with AffectNet's counts
    (`groups`: answer_groups(), `final`: {category: final labels}, when already read)."""
    if final is None:
        final = dict(Face.objects.filter(project_id=project.pk, final_category__isnull=False).order_by()
                     .values("final_category").annotate(n=Count("id")).values_list("final_category", "n"))
    answers = {}
    for r in answer_groups(project=project) if groups is None else groups:
        answers[r["category"]] = answers.get(r["category"], 0) + r["n"]
    return {
        "names": list(CATEGORY_NAMES),
        "final": [final.get(c, 0) for c in range(NUM_CATEGORIES)],
        "answers": [answers.get(c, 0) for c in range(NUM_CATEGORIES)],
        "affectnet": list(AFFECTNET_COUNTS),
    }


def _medians_seconds(project) -> dict:
    answers = Annotation.objects.filter(face__project_id=project.pk).order_by()
    if connection.vendor == "postgresql":
        return dict(answers.values("annotator_id").annotate(m=Median("seconds_spent"))
                    .values_list("annotator_id", "m"))
    # No MEDIAN in SQLite: one query keeps each annotator's middle one or two answers (window
    # functions), not one query per annotator.
    by_annotator = {"partition_by": F("annotator_id")}
    middle = (
        answers
        .annotate(rank=Window(RowNumber(), order_by=[F("seconds_spent").asc(), F("id").asc()], **by_annotator),
                  n=Window(Count("id"), **by_annotator))
        .filter(Q(rank=(F("n") + 1) / 2) | Q(rank=F("n") / 2 + 1))
        .values_list("annotator_id", "seconds_spent")
    )
    values = {}
    for annotator_id, seconds in middle:
        values.setdefault(annotator_id, []).append(seconds)
    return {annotator_id: sum(v) / len(v) for annotator_id, v in values.items()}


def annotator_stats(per_annotator_agreement: dict, *, project, groups=None, medians=None, gold=None) -> list:
    """Return per annotator, on the project's faces: answers, faces/hour of answering time, median
    seconds, agreement with others, gold accuracy, overturn rate (reviewers' decisions of another
    category), and anchoring (kept the shown suggestion vs matched the model when blind).
    `groups`: answer_groups(), `medians`: {annotator: median seconds}, `gold`: gold_accuracy(), when
    already read."""
    totals = {}
    for r in answer_groups(project=project) if groups is None else groups:
        t = totals.setdefault(r["annotator_id"], dict.fromkeys(
            ("answers", "seconds", "shown", "kept", "reviewed", "overturned", "blind", "blind_match"), 0))
        t["answers"] += r["n"]
        t["seconds"] += r["seconds"] or 0
        for key in ("shown", "kept", "reviewed", "overturned"):
            t[key] += r[key]
        if r["shown_blind"] and r["model"] is not None:  # blind answers where the model has a suggestion
            t["blind"] += r["n"]
            t["blind_match"] += r["n"] if r["model"] == r["category"] else 0
    names = dict(get_user_model().objects.filter(id__in=list(totals)).values_list("id", "username"))
    medians = _medians_seconds(project) if medians is None else medians
    gold = gold_accuracy(scope={project.pk}) if gold is None else gold
    out = []
    for aid, t in sorted(totals.items(), key=lambda item: names.get(item[0], "")):
        hours = t["seconds"] / 3600
        agree = per_annotator_agreement.get(aid)
        out.append({
            "annotator_id": aid,
            "annotator": names.get(aid, str(aid)),
            "answers": t["answers"],
            "faces_per_hour": t["answers"] / hours if hours > 0 else None,
            "median_seconds": medians.get(aid),
            "agreement": agree["agreement"] if agree else None,
            "agreement_pairs": agree["pairs"] if agree else 0,
            "gold_answers": gold.get(aid, {}).get("answers", 0),
            "gold_accuracy": gold.get(aid, {}).get("accuracy"),
            "shown": t["shown"],
            "kept_rate": t["kept"] / t["shown"] if t["shown"] else None,
            "blind": t["blind"],
            "blind_match_rate": t["blind_match"] / t["blind"] if t["blind"] else None,
            "overturned": t["overturned"],
            "reviewed": t["reviewed"],
            "overturn_rate": t["overturned"] / t["answers"] if t["answers"] else None,
        })
    return out


def annotator_vs_model_confusion(*, project, groups=None) -> list:
    """Return an 11x11 matrix over the project's faces: rows the annotators' categories, columns the
    project's active model's (`groups`: answer_groups(), when already read)."""
    matrix = [[0] * NUM_CATEGORIES for _ in range(NUM_CATEGORIES)]
    for r in answer_groups(project=project) if groups is None else groups:
        if r["model"] is not None:
            matrix[r["category"]][r["model"]] += r["n"]
    return matrix


def va_histogram(bins: int = VA_BINS, *, project) -> dict:
    """Return a bins x bins count of the points of the answers on the project's faces; cell [i][j]
    holds valence bin j, arousal bin i (bin 0 at -1)."""
    def bin_of(field):
        return Least(Floor((F(field) + 1.0) * (bins / 2.0)), Value(float(bins - 1)), output_field=FloatField())

    counts = [[0] * bins for _ in range(bins)]
    rows = (Annotation.objects.filter(face__project_id=project.pk, valence__isnull=False).order_by()
            .annotate(vb=bin_of("valence"), ab=bin_of("arousal")).values("vb", "ab").annotate(n=Count("id")))
    for r in rows:
        counts[int(r["ab"])][int(r["vb"])] = r["n"]
    return {"bins": bins, "counts": counts}


def dashboard_data(*, project, intervals_now: bool = False, seconds=None) -> dict:
    """Return everything /review/dashboard/ draws for one project (its faces only).

    From the per-block partials (reviews.aggregates): only the blocks changed since they were kept are
    computed; "blocks" says how many there are and how many were computed now. intervals_now: the
    evaluation's bootstrap runs whatever its size (the worker; see aggregates.evaluation_kept). seconds: a
    request's limit on the blocks computed (aggregates.block_partials; FiguresPending past it).
    """
    project = Project.objects.select_related("active_suggester").get(pk=project.pk)
    active = project.active_suggester
    partials, blocks, _ = aggregates.block_partials([project], aggregates.KINDS, seconds=seconds)
    agree = aggregates.agreement_of(partials[("agreement", project.pk)])
    merged = aggregates.answers_merge(partials[("answers", project.pk)])
    groups = aggregates.answer_groups_of(merged)
    final = {c: int(n) for c, n in enumerate(merged["final"].tolist()) if n}
    return {
        "project": {"slug": project.slug, "name": project.name},
        "progress": aggregates.progress_finalize(partials[("progress", project.pk)]),
        "categories": category_distribution(project=project, groups=groups, final=final),
        "annotators": annotator_stats(agree["per_annotator"], project=project, groups=groups,
                                      medians=aggregates.medians_of(merged), gold=aggregates.gold_of(merged)),
        "confusion_annotators": agree["confusion"],
        "confusion_model": annotator_vs_model_confusion(project=project, groups=groups),
        "model": f"{active.name} {active.version}" if active else None,
        "va_histogram": {"bins": aggregates.VA_BINS, "counts": merged["va"].tolist()},
        "agreement": {k: agree[k] for k in ("faces", "answers", "pairs", "categorical", "valence", "arousal")},
        "evaluation": aggregates.evaluation_of(active, project, partials[("evaluation", project.pk)],
                                               intervals_now=intervals_now) if active else None,
        "seed_baseline": SEED_BASELINE,
        "paper_agreement": PAPER_AGREEMENT,
        "blocks": blocks,
    }


def evaluation_kept(*, project, seconds=None) -> dict | None:
    """The project's active model against the val faces' independent final labels (suggester_evaluate),
    from the per-block partials: the blocks changed since they were kept are read again (seconds: as
    dashboard_data's)."""
    project = Project.objects.select_related("active_suggester").get(pk=project.pk)
    if project.active_suggester is None:
        return None
    partials, _, _ = aggregates.block_partials([project], ("evaluation",), seconds=seconds)
    table = aggregates.evaluation_of(project.active_suggester, project, partials[("evaluation", project.pk)])
    evaluation_intervals_ask(project, table)
    return table


def evaluation_intervals_ask(project, evaluation) -> bool:
    """Have the worker compute the evaluation's intervals of today's val faces when `evaluation` carries
    earlier ones (aggregates.evaluation_kept); return whether a refresh was queued now.

    One refresh queued a project at a time (a cache mark for INTERVALS_QUEUED_SECONDS, which the
    refresh clears as it starts). By the task's name: reviews.tasks imports this module."""
    if not evaluation or evaluation.get("intervals_of", {}).get("current", True):
        return False
    return _queue_once(f"{INTERVALS_QUEUED_KEY}:{project.pk}", INTERVALS_TASK, project.pk)


def _queue_once(mark: str, task_name: str, *args) -> bool:
    """Queue the task unless one is already queued (a cache mark for INTERVALS_QUEUED_SECONDS, which the task
    clears as it starts); return whether it was queued now. By the task's name: reviews.tasks imports this
    module."""
    if not cache.add(mark, 1, INTERVALS_QUEUED_SECONDS):
        return False
    task = current_app.tasks.get(task_name)
    if task is None or not task.enqueue(*args):
        cache.delete(mark)  # not queued: the next recompute asks again
        return False
    return True


THROUGHPUT_WINDOWS = (("hour", timedelta(hours=1)), ("day", timedelta(days=1)), ("week", timedelta(days=7)))


def projects_overview(projects, *, seconds=None) -> list:
    """Return one row per project, side by side: progress (faces, answered, all answers in, final,
    flagged), agreement (faces with 2+ answers, percent agreement, Fleiss' kappa) and throughput
    (answers in the last hour, day and week, and per day over the week).

    Progress and agreement from the per-block partials (reviews.aggregates; one query per figure
    for the blocks changed, whatever the number of projects), the throughput live (one GROUP BY
    project over the last week's answers, a range of the answers' created_at index).
    """
    projects = list(Project.objects.filter(pk__in=[p.pk for p in projects]).order_by("id"))
    partials, _, _ = aggregates.block_partials(projects, ("progress", "agreement"), seconds=seconds)
    now = timezone.now()
    windows = {name: Count("id", filter=Q(created_at__gte=now - span)) for name, span in THROUGHPUT_WINDOWS}
    recent = Annotation.objects.filter(created_at__gte=now - THROUGHPUT_WINDOWS[-1][1]).order_by()
    holding = projects_with_faces()
    if len(holding) == 1 and holding <= {p.pk for p in projects}:
        # the only project with faces: every answer is its own, counted from the created_at index alone
        throughput = {holding.pop(): recent.aggregate(**windows)}
    else:
        throughput = {r["face__project_id"]: r for r in recent.filter(face__project_id__in=[p.pk for p in projects])
                      .values("face__project_id").annotate(**windows)}
    out = []
    for p in projects:
        progress = aggregates.progress_finalize(partials[("progress", p.pk)])
        f = {k: sum(row[k] for row in progress) for k in ("faces", "answered", "complete", "final", "flagged")}
        t = throughput.get(p.pk, {name: 0 for name, _ in THROUGHPUT_WINDOWS})
        a = aggregates.agreement_of(partials[("agreement", p.pk)]) if partials[("agreement", p.pk)] else None
        if a is not None and not a["faces"]:
            a = None
        out.append({
            "slug": p.slug, "name": p.name,
            "faces": f["faces"], "answered": f["answered"], "complete": f["complete"], "final": f["final"],
            "flagged": f["flagged"],
            "shared_faces": a["faces"] if a else 0,
            "percent_agreement": a["categorical"]["percent_agreement"] if a else None,
            "fleiss_kappa": a["categorical"]["fleiss"]["kappa"] if a else None,
            "answers_hour": t["hour"], "answers_day": t["day"], "answers_week": t["week"],
            "answers_per_day": t["week"] / THROUGHPUT_WINDOWS[-1][1].days,
        })
    return out


def projects_overview_cached(projects, *, refresh: bool = False, seconds=None) -> dict:
    """Return {"projects": projects_overview(projects), "computed_at"}, kept like the dashboard's figures
    (and, past `seconds`, the last ones with "pending", as dashboard_cached)."""
    projects = list(projects)
    key = f"{CACHE_KEY}:overview:" + ",".join(str(p.pk) for p in projects)
    return _figures_kept(key, lambda: {"projects": projects_overview(projects, seconds=seconds)}, refresh=refresh)


def dashboard_standings(*, project) -> dict:
    """Return the annotators' standings (calibrating / qualified / paused) and the gold warnings.

    Never cached, unlike the figures: a few rows per annotator, and the lead who reinstates someone
    looks again at once.
    """
    return standings_overview(project)


def refresh_asked(query) -> bool:
    """Return whether a request's query (?refresh=1 or ?refresh=true) asks for figures computed now."""
    return query.get("refresh", "").lower() in ("1", "true")


def _figures_kept(key: str, compute, *, refresh: bool, stored=None, cache_seconds=None) -> dict:
    """The figures kept under `key` (unless refresh), else compute() with "computed_at", kept for
    cache_seconds (None: DASHBOARD_CACHE_SECONDS) and, as the last complete ones, under `key:last` for as
    long as the partials.

    A compute() that stopped at a request's time limit (aggregates.FiguresPending) gives the last complete
    figures (none kept: no figures, "computed_at" None) with "pending" {"blocks", "recomputed", "left"},
    and the worker is asked to finish (dashboard_figures_refresh, one queued at a time). stored(data): called
    once figures computed now are kept."""
    cache_seconds = settings.DASHBOARD_CACHE_SECONDS if cache_seconds is None else cache_seconds
    if not refresh:
        data = cache.get(key)
        if data is not None:
            return data
    try:
        data = {**compute(), "computed_at": timezone.now().isoformat(), "cache_seconds": cache_seconds}
    except aggregates.FiguresPending as pending:
        _queue_once(FIGURES_QUEUED_KEY, FIGURES_TASK)
        last = cache.get(f"{key}:last")
        base = last if last is not None else {"computed_at": None, "cache_seconds": cache_seconds}
        return {**base, "pending": pending.stats}
    cache.set(key, data, cache_seconds)
    cache.set(f"{key}:last", data, aggregates.PARTIAL_SECONDS)
    if stored is not None:
        stored(data)
    return data


def dashboard_cached(*, project, refresh: bool = False, intervals_now: bool = False, seconds=None) -> dict:
    """Return dashboard_data() with the time it was computed ("computed_at"), from the cache.

    Computed again when older than DASHBOARD_CACHE_SECONDS, or at once with refresh: the figures
    cost seconds at a million faces, and a page that every reviewer opens must not pay that each time.
    Figures whose evaluation carries earlier intervals have the worker compute them again, with today's.
    seconds (a request's, DASHBOARD_RECOMPUTE_SECONDS): past it, the last complete figures with "pending"
    (_figures_kept); the blocks computed so far are kept, so the next read goes on from them.
    """
    return _figures_kept(
        f"{CACHE_KEY}:{project.pk}",
        lambda: dashboard_data(project=project, intervals_now=intervals_now, seconds=seconds), refresh=refresh,
        # after the store: the refresh's figures replace these
        stored=lambda data: evaluation_intervals_ask(project, data["evaluation"]))


FEEDBACK_CACHE_KEY = "reviews:feedback:v1"


def feedback_figures_cached(*, annotator, scope, refresh: bool = False) -> dict:
    """Return selectors.feedback_figures() with the time it was computed ("computed_at"), from the cache.

    Kept per annotator and viewer's scope for FEEDBACK_CACHE_SECONDS, or computed at once with refresh:
    they count every answer of the annotator (~20 ms at a million faces, growing with them), while the
    rest of the page reads one screen of rows and is computed on every view."""
    scope_key = "all" if scope is None else hashlib.sha1(",".join(map(str, sorted(scope))).encode()).hexdigest()
    return _figures_kept(f"{FEEDBACK_CACHE_KEY}:{annotator.pk}:{scope_key}",
                         lambda: feedback_figures(annotator=annotator, scope=scope), refresh=refresh,
                         cache_seconds=settings.FEEDBACK_CACHE_SECONDS)
