"""The dashboard's figures as per-block partial aggregates, kept in the cache under a change fingerprint.

Faces are split into blocks by id (face_id // BLOCK_FACES, 8192). For each (project, block) a partial holds
additive statistics of the figures restricted to that block's faces; the figures are the merge (a sum)
of every block's partial, finalized into what dashboard_data() returned before. A face lies in one
block with all of its answers, suggestions, flags, decision and gold label, so the per-face measures
(agreement pairs a face's answers) split cleanly.

On PostgreSQL each block has a fingerprint from a change log (reviews.models.BlockChange): statement-level
triggers on every table the figures read add, per statement, a row for each run of 64 face ids it
touched, and a block's fingerprint is the count and the sum of the xmin (the id of the writing
transaction) of the log rows that overlap it. Any committed insert, update or delete adds a row, so
any change in a block changes its fingerprint, and a recompute reads this small table (one query)
instead of scanning a million faces, answers and suggestions (which took 1-3.6 s at 1M). Beat folds a
block's log rows into one summary row carrying their count and xmin sum (block_changes_compact), so
folding changes no fingerprint. The partials are cached under (kind, project, block, fingerprint, active
suggester, PARTIALS_VERSION): a recompute reads the fingerprints, fetches the cached partials, computes
the missing blocks only (one query per figure over the union of their id ranges), stores them, merges
and finalizes. Fingerprints and partials are read in one REPEATABLE READ transaction, so a partial is
stored under exactly the fingerprint of the data it was computed from.

SQLite has no xmin: every block is computed every time, through the same partial/merge/finalize path.
"""
import functools
import hashlib
import logging
import pickle
import random
import time
from contextlib import contextmanager

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Count,
    ExpressionWrapper,
    F,
    FilteredRelation,
    FloatField,
    IntegerField,
    Q,
    Sum,
    Value,
)
from django.db.models.functions import Floor, Least
from django.utils import timezone

from annotator.domain.agreement_stats import STATS_VERSION, agreement_finalize, agreement_merge, agreement_partial
from annotator.domain.categories import NUM_CATEGORIES
from annotator.models import Annotation, Face, Split, Suggester, Suggestion
from annotator.training.selectors import evaluation_finalize, evaluation_rows
from reviews.models import BlockChange, Decision, Flag, GoldItem

logger = logging.getLogger(__name__)

# Faces per block: small enough that a few new answers make a few blocks' worth of work, large enough
# that a million faces are 123 cache entries a kind (measured at 1M with bench_reads: 8192 gave the
# recompute after 100 new answers 1.8 s and the unchanged one 1.5 s; 16384: 2.5 s and 1.3 s).
BLOCK_FACES = 8192
# Part of every partial's cache key: change it when a partial's content or meaning changes.
PARTIALS_VERSION = 3
# A partial is immutable under its fingerprint; an unused one (its block changed) just expires.
PARTIAL_SECONDS = 7 * 24 * 3600
VA_BINS = 20
SPLITS = tuple(Split.values)
# progress per split: the columns of a block's progress partial
PROGRESS_COLUMNS = ("faces", "answered", "complete", "final", "flagged", "spot_checks")
# answer groups: key columns (the active model's category -1 where it has none) and summed columns
GROUP_KEYS = ("annotator_id", "category", "shown_blind", "model")
GROUP_VALUES = ("n", "seconds", "shown", "kept", "reviewed", "overturned")
KINDS = ("progress", "agreement", "answers", "evaluation")


# Blocks a request computes at a time under a time limit (block_partials(seconds=)): 4 blocks of every kind
# take 0.3-0.5 s at 1M, so a 0.75 s limit leaves room for the merge (8 blocks: the last request of a cold
# cache took 2.1 s at 1 s).
CHUNK_BLOCKS = 4
CACHE_PROBE_KEY = "reviews:partial:probe"


class FiguresPending(Exception):
    """A recompute under a time limit stopped with blocks still to compute. Those it computed are kept (the
    next recompute starts from them); `stats`: {"blocks", "recomputed" (now), "left"}."""

    def __init__(self, stats: dict):
        super().__init__(f"{stats['left']} of {stats['blocks']} blocks still to compute")
        self.stats = stats


def _fingerprint_tables():
    """(table, face id column) of every table whose rows the figures read: each needs migration 0011's
    triggers, or a change in it would not move a fingerprint (tests/reviews/test_dashboard_partials.py checks)."""
    return [(Face._meta.db_table, "id"), *((m._meta.db_table, "face_id") for m in (
        Annotation, Suggestion, Flag, Decision, GoldItem))]


def block_fingerprints():
    """Return {block: fingerprint text} of every block the change log names (BlockChange: the blocks with
    a row in any table the figures read, and those changed since); None where the database has no xmin
    (SQLite: every block is computed every time)."""
    if connection.vendor != "postgresql":
        return None
    table = connection.ops.quote_name(BlockChange._meta.db_table)
    # A logged row counts itself and its xmin; a summary row counts the rows it replaced.
    sql = (f"SELECT b, sum(coalesce(carried_n, 1)), sum(coalesce(carried_xmins, xmin::text::bigint)) FROM {table},"
           f" generate_series(lo / %s, hi / %s) AS b GROUP BY b")
    with connection.cursor() as cursor:
        cursor.execute(sql, [BLOCK_FACES, BLOCK_FACES])
        return {int(block): f"{n}:{xmins}" for block, n, xmins in cursor.fetchall()}


def block_changes_compact() -> int:
    """Fold each block's logged changes into its one summary row, which carries their count and xmin sum, so
    every fingerprint stays as it was while the log stays small; return the rows folded (PostgreSQL; 0
    elsewhere). One statement: a reader's snapshot sees the rows before or after, never half. A change
    not committed yet is not folded: its row counts when it commits. Rows spanning blocks (runs of 64
    ids over blocks smaller than that: the tests') are left as they are."""
    if connection.vendor != "postgresql":
        return 0
    table = connection.ops.quote_name(BlockChange._meta.db_table)
    summary = "carried_n IS NOT NULL AND lo = hi AND lo %% %(b)s = 0"
    sql = f"""
        WITH folded AS (
            DELETE FROM {table} WHERE lo / %(b)s = hi / %(b)s AND NOT ({summary})
            RETURNING lo / %(b)s AS block, coalesce(carried_n, 1) AS n, coalesce(carried_xmins, xmin::text::bigint) AS x
        ), per_block AS (SELECT block, count(*) AS rows, sum(n) AS n, sum(x) AS x FROM folded GROUP BY block),
        kept AS (
            INSERT INTO {table} (lo, hi, carried_n, carried_xmins)
            SELECT block * %(b)s, block * %(b)s, n, x FROM per_block
            ON CONFLICT (lo) WHERE carried_n IS NOT NULL DO UPDATE
            SET carried_n = {table}.carried_n + EXCLUDED.carried_n, carried_xmins = {table}.carried_xmins + EXCLUDED.carried_xmins
        )
        SELECT coalesce(sum(rows), 0) FROM per_block"""
    with connection.cursor() as cursor:
        cursor.execute(sql, {"b": BLOCK_FACES})
        return int(cursor.fetchone()[0])


@contextmanager
def _snapshot():
    """One transaction that sees one snapshot of the database (REPEATABLE READ on PostgreSQL) for the
    fingerprints and the partials computed under them. Inside a transaction already open (a test's),
    that one is used as it is."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def _ranges(blocks):
    """Return [lo, hi) face id ranges covering the blocks (consecutive blocks joined)."""
    out = []
    for b in sorted(blocks):
        if out and out[-1][1] == b * BLOCK_FACES:
            out[-1][1] = (b + 1) * BLOCK_FACES
        else:
            out.append([b * BLOCK_FACES, (b + 1) * BLOCK_FACES])
    return out


def _in_blocks(queryset, blocks, field):
    """The rows of `queryset` whose face lies in `blocks` (None: every block). On a table with a face_id,
    the joined face's id is bounded too: PostgreSQL carries an equality across a join, not a range, and
    would otherwise read every face to join a block's answers."""
    if blocks is None:
        return queryset
    joined = field == "face_id"  # "id_of_face": face_id, on a query that does not join the faces
    field = "face_id" if field == "id_of_face" else field
    where = Q()
    for lo, hi in _ranges(blocks):
        where |= Q(**{f"{field}__gte": lo, f"{field}__lt": hi})
    queryset = queryset.filter(where)
    if joined:  # the same bounds on the joined face (Django would write face__id as face_id)
        table = connection.ops.quote_name(Face._meta.db_table)
        ranges = _ranges(blocks)
        queryset = queryset.extra(where=[" OR ".join([f"({table}.id >= %s AND {table}.id < %s)"] * len(ranges))],
                                  params=[x for r in ranges for x in r])
    return queryset


def _rows(queryset) -> list:
    """The rows of a values_list queryset as the database driver returns them: no per-value converters
    of the ORM (1.2 million answers' seconds cost seconds through them)."""
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:  # e.g. no project asked
        return []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _block_of(field):
    return ExpressionWrapper(F(field) / BLOCK_FACES, output_field=BigIntegerField())


# --- partials: one query per figure over the blocks asked, grouped by (project, block) -------------------

def _split_row(split) -> int:
    """A split's row in a progress partial; a value Split does not know (none today) has the last row,
    which the figures leave out as progress_per_split did."""
    return SPLITS.index(split) if split in SPLITS else len(SPLITS)


def _progress_partials(pids, blocks) -> dict:
    out = {}

    def cell(pid, block):
        return out.setdefault((pid, int(block)), _empty("progress"))

    faces = _in_blocks(Face.objects.filter(project_id__in=pids), blocks, "id").order_by().annotate(
        block=_block_of("id")).values("project_id", "block", "split").annotate(
        faces=Count("id"),
        answered=Count("id", filter=Q(answer_count__gt=0)),
        complete=Count("id", filter=Q(answer_count__gte=F("required_annotations"))),
        final=Count("id", filter=Q(final_category__isnull=False)),
    )
    for r in faces:
        cell(r["project_id"], r["block"])[_split_row(r["split"]), :4] = (
            r["faces"], r["answered"], r["complete"], r["final"])
    flags = _in_blocks(Flag.objects.filter(status=Flag.Status.OPEN, face__project_id__in=pids), blocks, "face_id")
    flags = flags.order_by().annotate(block=_block_of("face_id")).values("face__project_id", "block", "face__split")
    for r in flags.annotate(
            n=Count("face_id", distinct=True),
            spot=Count("face_id", distinct=True, filter=Q(reason=Flag.Reason.SPOT_CHECK))):
        cell(r["face__project_id"], r["block"])[_split_row(r["face__split"]), 4:] = (r["n"], r["spot"])
    return out


def _agreement_partials(pids, blocks) -> dict:
    """{(project, block): {split: agreement_partial}} of the answers on faces with two or more answers,
    each face's answers in the order they were first given (created_at, id), as agreement_rows reads them."""
    # The shared faces from the answers' (face, annotator) index alone, as agreement_rows reads them.
    shared = _in_blocks(Annotation.objects.all(), blocks, "id_of_face").order_by().values("face_id").annotate(
        n=Count("annotator_id")).filter(n__gte=2).values("face_id")
    answers = _in_blocks(Annotation.objects.filter(face__project_id__in=pids), blocks, "face_id")
    rows = _rows(answers.filter(face_id__in=shared).order_by("created_at", "id").values_list(
        "face__project_id", "face_id", "face__split", "annotator_id", "category", "valence", "arousal"))
    out = {}
    if not rows:
        return out
    project, face, split, annotator, category, valence, arousal = zip(*rows)
    project = np.array(project, dtype=np.int64)
    face = np.array(face, dtype=np.int64)
    split_names, split = np.unique(np.array(split, dtype=object).astype(str), return_inverse=True)
    split = split.reshape(-1).astype(np.int64)
    annotator = np.array(annotator, dtype=np.int64)
    category = np.array(category, dtype=np.int64)
    valence = np.array(valence, dtype=np.float64)
    arousal = np.array(arousal, dtype=np.float64)
    # Group by (project, block, split), keeping each face's answers in their order (a stable sort).
    key = np.stack([project, face // BLOCK_FACES, split], axis=1)
    order = np.lexsort(key.T[::-1])  # stable: each face's answers keep their order
    keys, starts = np.unique(key[order], axis=0, return_index=True)
    for (pid, block, s), rows_at in zip(keys.tolist(), np.split(order, starts[1:])):
        out.setdefault((pid, block), {})[str(split_names[s])] = agreement_partial(
            face[rows_at], annotator[rows_at], category[rows_at], valence[rows_at], arousal[rows_at],
            num_categories=NUM_CATEGORIES)
    return out


def _empty_answers():
    return {
        "group_keys": np.zeros((0, len(GROUP_KEYS)), dtype=np.int64),
        "group_values": np.zeros((0, len(GROUP_VALUES)), dtype=np.float64),
        "seconds": {},  # annotator id: the seconds of each of their answers
        "gold": np.zeros((0, 3), dtype=np.int64),  # annotator, answers, correct
        "va": np.zeros((VA_BINS, VA_BINS), dtype=np.int64),
        "final": np.zeros(NUM_CATEGORIES, dtype=np.int64),
    }


def answer_group_rows(answers, active, *keys):
    """The answers counted per (`keys`, annotator, category, shown blind, the active model's category on the
    face): n, answering seconds, suggestions shown and kept, answers a reviewer decided and overturned. The
    one query behind dashboard.answer_groups (all of a project's answers) and the answers partials (per block)."""
    if active is not None:
        answers = answers.alias(active_suggestion=FilteredRelation(
            "face__suggestions", condition=Q(face__suggestions__suggester=active))).annotate(
            model=F("active_suggestion__category"))
    else:
        answers = answers.annotate(model=Value(None, output_field=IntegerField()))
    decided = Q(face__decision__isnull=False)
    shown = Q(shown_blind=False, suggestion__isnull=False)
    return answers.values(*keys, *GROUP_KEYS).annotate(
        n=Count("id"), seconds=Sum("seconds_spent"), shown=Count("id", filter=shown),
        kept=Count("id", filter=shown & Q(kept_suggestion=True)), reviewed=Count("id", filter=decided),
        overturned=Count("id", filter=decided & ~Q(category=F("face__decision__category"))))


def _answers_partials(project, active, blocks) -> dict:
    """{(project, block): the answers' figures}: answer groups (the annotators' table, the answers per
    category, the annotator-vs-model matrix), every answer's seconds (for exact medians), gold accuracy
    counts, the valence-arousal histogram and the final labels per category. One project (its model)."""
    pid = project.pk
    out = {}

    def cell(block):
        key = (pid, int(block))
        if key not in out:
            out[key] = _empty_answers()
        return out[key]

    answers = _in_blocks(Annotation.objects.filter(face__project_id=pid), blocks, "face_id").order_by()
    # answer groups, as dashboard.answer_groups reads them, per block: the driver's rows as columns (a
    # million faces give ~150,000 groups; a dict and a tuple each cost over a second)
    rows = _rows(answer_group_rows(answers.annotate(block=_block_of("face_id")), active, "block").values_list(
        "block", *GROUP_KEYS, *GROUP_VALUES))
    if rows:
        # columns: block, GROUP_KEYS, GROUP_VALUES (NULL: no model's category, no seconds -> NaN)
        columns = np.array(rows, dtype=np.float64)
        columns[:, 1 + GROUP_KEYS.index("model")] = np.nan_to_num(columns[:, 1 + GROUP_KEYS.index("model")], nan=-1)
        order = np.argsort(columns[:, 0], kind="stable")
        columns = columns[order]
        block_ids, starts = np.unique(columns[:, 0].astype(np.int64), return_index=True)
        for block, part in zip(block_ids.tolist(), np.split(columns, starts[1:])):
            cell(block).update(group_keys=part[:, 1:1 + len(GROUP_KEYS)].astype(np.int64),
                               group_values=np.nan_to_num(part[:, 1 + len(GROUP_KEYS):], nan=0.0))
    # every answer's seconds, per block (medians are exact only from the values themselves)
    seconds = _rows(answers.annotate(block=_block_of("face_id")).values_list("block", "annotator_id", "seconds_spent"))
    if seconds:
        block, annotator, secs = (np.array(c) for c in zip(*seconds))
        key = np.stack([block, annotator], axis=1).astype(np.int64)
        order = np.lexsort(key.T[::-1])
        keys, starts = np.unique(key[order], axis=0, return_index=True)
        for (b, a), at in zip(keys.tolist(), np.split(order, starts[1:])):
            cell(b)["seconds"][a] = secs[at].astype(np.float64)
    # gold accuracy counts
    gold = {}
    for r in answers.filter(face__gold__isnull=False).annotate(block=_block_of("face_id")).values(
            "block", "annotator_id").annotate(answers=Count("id"), correct=Count("id", filter=Q(
                category=F("face__gold__category")))):
        gold.setdefault(int(r["block"]), []).append((r["annotator_id"], r["answers"], r["correct"]))
    for block, rows in gold.items():
        cell(block)["gold"] = np.array(rows, dtype=np.int64)

    # the answers' points, binned
    def bin_of(field):
        return Least(Floor((F(field) + 1.0) * (VA_BINS / 2.0)), Value(float(VA_BINS - 1)), output_field=FloatField())

    for r in answers.filter(valence__isnull=False).annotate(block=_block_of("face_id"), vb=bin_of("valence"),
                                                            ab=bin_of("arousal")).values("block", "vb", "ab").annotate(
            n=Count("id")):
        cell(r["block"])["va"][int(r["ab"]), int(r["vb"])] = r["n"]
    # final labels per category
    finals = _in_blocks(Face.objects.filter(project_id=pid, final_category__isnull=False), blocks, "id").order_by()
    for r in finals.annotate(block=_block_of("id")).values("block", "final_category").annotate(n=Count("id")):
        cell(r["block"])["final"][r["final_category"]] = r["n"]
    return out


def _evaluation_partials(project, active_id, blocks) -> dict:
    """{(project, block): evaluation_rows()} of the project's active model on its val faces, the rows a
    block's own (its face counts, its predictions in face id order)."""
    if active_id is None:
        return {}
    where = None
    if blocks is not None:
        where = Q()
        for lo, hi in _ranges(blocks):
            where |= Q(id__gte=lo, id__lt=hi)
    active = Suggester.objects.get(pk=active_id)
    rows = evaluation_rows(active, Split.VAL, list(range(NUM_CATEGORIES)), [project], faces=where,
                           group=_block_of("id"))
    out = {}
    for block, *row in rows["faces"]:
        out.setdefault((project.pk, int(block)), _empty("evaluation"))["faces"].append((block, *row))
    for row in rows["predictions"]:
        out.setdefault((project.pk, row[0] // BLOCK_FACES), _empty("evaluation"))["predictions"].append(row)
    return out


def _compute(kind, projects, actives, blocks) -> dict:
    pids = [p.pk for p in projects]
    if kind == "progress":
        return _progress_partials(pids, blocks)
    if kind == "agreement":
        return _agreement_partials(pids, blocks)
    out = {}
    for p in projects:
        if kind == "answers":
            out.update(_answers_partials(p, actives.get(p.pk), blocks))
        else:
            out.update(_evaluation_partials(p, actives.get(p.pk), blocks))
    return out


def _empty(kind):
    if kind == "progress":  # a row per split, and one for a split Split does not know
        return np.zeros((len(SPLITS) + 1, len(PROGRESS_COLUMNS)), dtype=np.int64)
    if kind == "agreement":
        return {}
    if kind == "evaluation":
        return {"faces": [], "predictions": []}
    return _empty_answers()


def _cache_keeps() -> bool:
    """Whether the cache keeps what is stored now (False while Redis is down: the cache ignores its errors)."""
    token = f"{time.time_ns()}:{random.random()}"
    cache.set(CACHE_PROBE_KEY, token, 60)
    return cache.get(CACHE_PROBE_KEY) == token


def _key(kind, pid, block, fingerprint, active_id):
    return f"reviews:partial:v{PARTIALS_VERSION}.{STATS_VERSION}.{BLOCK_FACES}:{kind}:{pid}:{block}:{fingerprint}:{active_id or 0}"


def block_partials(projects, kinds, *, seconds=None) -> tuple:
    """Return ({(kind, project id): [partial per block]}, {"blocks": blocks seen, "recomputed": blocks
    computed now}, fingerprints) for these projects and kinds of partial (KINDS), from the cache where a
    block's fingerprint is unchanged.

    seconds: a request's limit. The changed blocks are computed CHUNK_BLOCKS at a time, in random order
    (two requests at once mostly take different ones), and no further step starts that would, at the last
    one's pace, end past the limit; if blocks are left, those computed are kept and FiguresPending raised
    (a cold cache at a million faces is ~10 s of work: the worker's, or a few requests'). With a cache that
    keeps nothing (Redis down) no request could go on from another's blocks: every block is computed. None: every
    changed block, at once (the worker, the commands). SQLite, without fingerprints, computes every block."""
    projects = list(projects)
    actives = {p.pk: p.active_suggester_id for p in projects}
    out = {(kind, p.pk): [] for kind in kinds for p in projects}
    left = set()
    with _snapshot():
        fingerprints = block_fingerprints()
        if fingerprints is None:  # no fingerprints: every block, every time
            dirty, found, keys = None, {}, {}
        else:
            keys = {(kind, p.pk, block): _key(kind, p.pk, block, fp, actives[p.pk])
                    for kind in kinds for p in projects for block, fp in sorted(fingerprints.items())}
            found = cache.get_many(list(keys.values())) if keys else {}
            dirty = sorted({block for (kind, pid, block), key in keys.items() if key not in found})
        computed = {}
        if dirty is None or seconds is None:
            steps = [dirty] if dirty is None or dirty else []
        else:
            steps = [dirty[i:i + CHUNK_BLOCKS] for i in range(0, len(dirty), CHUNK_BLOCKS)]
            random.shuffle(steps)
        started = time.perf_counter()
        for i, step in enumerate(steps):
            step_started = time.perf_counter()
            for kind in kinds:
                for (pid, block), partial in _compute(kind, projects, actives, step).items():
                    computed[(kind, pid, block)] = partial
            now = time.perf_counter()
            if seconds is not None and i + 1 < len(steps) and (now - started) + (now - step_started) > seconds:
                if not _cache_keeps():  # stopping would keep nothing, and no read would ever be whole
                    seconds = None
                    continue
                left = {b for later in steps[i + 1:] for b in later}
                break
        if fingerprints is not None:
            fresh = {}
            for (kind, pid, block), key in keys.items():
                if key in found:
                    out[(kind, pid)].append(found[key])
                elif block not in left:
                    partial = computed.get((kind, pid, block), _empty(kind))
                    fresh[key] = partial  # the agreement's per-pair cells are already sparse
                    out[(kind, pid)].append(partial)
            if fresh:
                cache.set_many(fresh, PARTIAL_SECONDS)
        else:  # in block order, as with fingerprints (the evaluation's rows go in face id order)
            for (kind, pid, _), partial in sorted(computed.items(), key=lambda item: item[0][2]):
                out[(kind, pid)].append(partial)
    blocks = len(fingerprints) if fingerprints is not None else len({b for _, _, b in computed})
    stats = {"blocks": blocks, "recomputed": blocks if dirty is None else len(dirty) - len(left)}
    logger.info("partials %s of %d projects: %d blocks, %d recomputed, %d left", ",".join(kinds), len(projects),
                stats["blocks"], stats["recomputed"], len(left))
    if left:
        raise FiguresPending({**stats, "left": len(left)})
    return out, stats, fingerprints


# --- merge and finalize --------------------------------------------------------------------------------

def progress_finalize(partials) -> list:
    """The progress per split (dashboard.progress_per_split's rows) from a project's progress partials."""
    total = np.sum(partials, axis=0) if partials else _empty("progress")
    return [{"split": split, **{c: int(total[i, j]) for j, c in enumerate(PROGRESS_COLUMNS)}}
            for i, split in enumerate(SPLITS)]


def agreement_of(partials, splits=None) -> dict:
    """The agreement between annotators (inter_annotator_agreement's dict) from agreement partials, over
    `splits` (None: all)."""
    chosen = [partial for p in partials for s, partial in p.items() if splits is None or s in splits]
    if not chosen:  # no face with two answers: the measures of no rows
        chosen = [agreement_partial([], [], [], [], [], num_categories=NUM_CATEGORIES)]
    return agreement_finalize(agreement_merge(chosen))


# A group key packs into one int64 (annotator id, then category in 4 bits, shown_blind in 1, the model's
# category plus one, -1 for none, in 4), ordered as the keys are: np.unique over the rows sorted 125 blocks'
# keys in 0.4 s at 1M, over the ints in a few ms.


def _group_codes(keys: np.ndarray) -> np.ndarray:
    annotator, category, blind, model = keys.T
    return ((annotator << 4 | category) << 1 | blind) << 4 | (model + 1)


def _group_keys(codes: np.ndarray) -> np.ndarray:
    model = (codes & 15) - 1
    blind = (codes >> 4) & 1
    category = (codes >> 5) & 15
    return np.stack([codes >> 9, category, blind, model], axis=1)


def answers_merge(partials) -> dict:
    """Sum a project's answers partials into one."""
    if not partials:
        return _empty_answers()
    keys = np.concatenate([p["group_keys"] for p in partials])
    values = np.concatenate([p["group_values"] for p in partials])
    if len(keys):
        codes, inverse = np.unique(_group_codes(keys), return_inverse=True)
        keys = _group_keys(codes)
        summed = np.zeros((len(keys), values.shape[1]))
        np.add.at(summed, inverse.reshape(-1), values)
        values = summed
    gold = np.concatenate([p["gold"] for p in partials])
    if len(gold):
        ids, inverse = np.unique(gold[:, 0], return_inverse=True)
        gold = np.stack([ids, np.bincount(inverse, gold[:, 1]), np.bincount(inverse, gold[:, 2])], axis=1).astype(np.int64)
    return {
        "group_keys": keys, "group_values": values,
        "seconds": {a: np.concatenate([p["seconds"][a] for p in partials if a in p["seconds"]])
                    for a in {a for p in partials for a in p["seconds"]}},
        "gold": gold,
        "va": np.sum([p["va"] for p in partials], axis=0),
        "final": np.sum([p["final"] for p in partials], axis=0),
    }


def answer_groups_of(merged) -> list:
    """answer_groups()'s rows from merged answers partials."""
    rows = []
    for key, values in zip(merged["group_keys"].tolist(), merged["group_values"].tolist()):
        row = dict(zip(GROUP_KEYS, key))
        row["shown_blind"] = bool(row["shown_blind"])
        row["model"] = None if row["model"] < 0 else row["model"]
        row.update({k: (v if k == "seconds" else int(v)) for k, v in zip(GROUP_VALUES, values)})
        rows.append(row)
    return rows


def medians_of(merged) -> dict:
    """{annotator: median seconds} (np.median: the mean of the middle two for an even count, as
    PERCENTILE_CONT(0.5) and the SQLite fallback give)."""
    return {int(a): float(np.median(s)) for a, s in merged["seconds"].items() if s.size}


def gold_of(merged) -> dict:
    """gold_accuracy()'s dict from merged answers partials."""
    return {int(a): {"answers": int(n), "correct": int(c), "accuracy": c / n} for a, n, c in merged["gold"].tolist()}


def evaluation_of(active, project, partials, *, intervals_now: bool = False) -> dict:
    """suggester_evaluate(active, "val", projects=[project]) from the project's evaluation partials (in
    block order, so the predictions are in face id order, as the bootstrap drew them before).

    intervals_now: run the bootstrap whatever its size (the worker); else a bootstrap over
    EVALUATION_INLINE_CELLS that is not kept is left to the worker (see evaluation_kept)."""
    rows = {"faces": [r for p in partials for r in p["faces"]],
            "predictions": [r for p in partials for r in p["predictions"]]}
    keep = functools.partial(evaluation_kept, lineage=f"{project.pk}:{active.pk}", intervals_now=intervals_now)
    return evaluation_finalize(active, Split.VAL, list(range(NUM_CATEGORIES)), [project], rows, keep=keep)


def _latest_key(lineage: str, options: dict) -> str:
    digest = hashlib.sha1(repr(sorted(options.items())).encode()).hexdigest()[:16]
    return f"reviews:evaluation-latest:v{PARTIALS_VERSION}:{lineage}:{digest}"


def evaluation_kept(truth, predictions, options: dict, compute, *, lineage: str, intervals_now: bool) -> dict:
    """The evaluation's measures (compute()), kept in the cache under a digest of its inputs: its bootstrap intervals
    (1,000 resamples of every val face) cost ~1.5 s at 4,500 faces and ~15 s at 45,000, while the val faces'
    labels and predictions rarely change (new answers elsewhere do not touch them). Seeded, so the same
    inputs give the same table: a kept one is never stale.

    When the inputs changed and their bootstrap is bigger than EVALUATION_INLINE_CELLS (and not
    intervals_now), the measures are computed now without it (and kept) and carry the intervals last computed for
    this project and model (lineage), with "intervals_of": {"faces", "computed_at", "current": False};
    the caller has the worker compute today's (reviews.tasks.evaluation_intervals_refresh). A table with
    its own intervals says "current": True."""
    digest = hashlib.sha1(pickle.dumps((PARTIALS_VERSION, truth, sorted(options.items())), protocol=5))
    for values in (predictions.probabilities, predictions.valence, predictions.arousal):
        digest.update(np.ascontiguousarray(values).tobytes())
    key = f"reviews:evaluation:{digest.hexdigest()}"
    table = cache.get(key)
    if table is not None:
        return table
    latest_key = _latest_key(lineage, options)
    if intervals_now or len(truth) * options["resamples"] <= settings.EVALUATION_INLINE_CELLS:
        table = {**compute(), "intervals_of": {"faces": len(truth), "computed_at": timezone.now().isoformat(),
                                               "current": True}}
        cache.set_many({key: table, latest_key: table}, PARTIAL_SECONDS)
        return table
    points = cache.get(f"{key}:points")  # the measures alone, kept too: a recompute that changed nothing reads them
    if points is None:
        points = compute(intervals=False)
        cache.set(f"{key}:points", points, PARTIAL_SECONDS)
    table = {**points, "resamples": options["resamples"]}
    latest = cache.get(latest_key)
    if latest is not None:
        table["intervals"] = latest["intervals"]
        table["intervals_of"] = {**latest["intervals_of"], "current": False}
    else:
        table["intervals_of"] = {"faces": None, "computed_at": None, "current": False}
    return table
