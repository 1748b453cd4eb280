"""The dashboard's figures from per-block partials (reviews.aggregates) equal the figures computed over
every face at once, on SQLite and PostgreSQL; on PostgreSQL a change in one block recomputes that block
only (its fingerprint changed) and the figures follow it.

Small blocks (BLOCK_FACES = 4) so a few dozen faces make many blocks."""
import random

import numpy as np
import pytest
from django.db import connection

from annotator.domain.categories import NUM_CATEGORIES
from annotator.domain.metrics import inter_annotator_agreement
from annotator.faces.services import face_refresh_final_label
from annotator.models import Annotation, Face
from annotator.projects.services import project_create
from annotator.training.selectors import suggester_evaluate
from reviews import aggregates, services
from reviews.dashboard import (
    _medians_seconds,
    annotator_stats,
    annotator_vs_model_confusion,
    answer_groups,
    category_distribution,
    dashboard_data,
    progress_per_split,
    projects_overview,
    va_histogram,
)
from reviews.evaluation import agreement
from reviews.models import Decision, Flag, GoldItem
from reviews.selectors import agreement_rows, gold_accuracy
from tests.conftest import make_user
from tests.review_factories import answer, flag, make_face, suggest, suggester

SPLITS = ("train", "val", "unassigned")


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(aggregates, "BLOCK_FACES", 4)


def direct(project) -> dict:
    """The figures computed over every face at once (the per-figure functions, no partials)."""
    project.refresh_from_db()
    rows = agreement_rows(scope={project.pk})
    agree = inter_annotator_agreement(rows["face"], rows["annotator"], rows["category"], rows["valence"],
                                      rows["arousal"], num_categories=NUM_CATEGORIES)
    groups = answer_groups(project=project)
    return {
        "progress": progress_per_split(project=project),
        "categories": category_distribution(project=project),
        "annotators": annotator_stats(agree["per_annotator"], project=project, groups=groups),
        "confusion_annotators": agree["confusion"],
        "confusion_model": annotator_vs_model_confusion(project=project, groups=groups),
        "va_histogram": va_histogram(project=project),
        "agreement": {k: agree[k] for k in ("faces", "answers", "pairs", "categorical", "valence", "arousal")},
        "evaluation": suggester_evaluate(project.active_suggester, "val", projects=[project]),
    }


def close(got, want, where="") -> None:
    """Assert equal structures, floats to 1e-9 (sums in another order)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for k in want:
            close(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            close(g, w, f"{where}[{i}]")
    elif isinstance(want, float) or isinstance(got, float):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), where
    else:
        assert got == want, where


def without_intervals_of(evaluation):
    """An evaluation from the partials less what only they say: of when and of how many faces its intervals are."""
    return {k: v for k, v in evaluation.items() if k != "intervals_of"} if evaluation else evaluation


def assert_same(data, expected):
    for key, value in expected.items():
        close(without_intervals_of(data[key]) if key == "evaluation" else data[key], value, key)


def random_project(seed, *, faces=37, slug="rand"):
    """A project of random faces: 1-3 answers each from 6 annotators (points or none, blind or not,
    random seconds), a suggestion of the active model on most, open flags (some spot checks), decisions,
    gold labels, random splits."""
    rng = random.Random(seed)
    project = project_create(slug=slug, name=slug)
    users = [make_user(f"{slug}-a{i}", "annotator", projects=[project]) for i in range(6)]
    reviewer = make_user(f"{slug}-r", "reviewer", projects=[project])
    model = suggester(f"{slug}-m", project=project)
    made = []
    for _ in range(faces):
        face = make_face(split=rng.choice(SPLITS), required=rng.choice((1, 2, 3)), project=project)
        if rng.random() < 0.8:
            suggest(face, model, rng.randrange(9), rng.uniform(-1, 1), rng.uniform(-1, 1))
        for user in rng.sample(users, rng.choice((0, 1, 2, 2, 3))):
            category = rng.randrange(NUM_CATEGORIES)
            point = (None, None) if category > 8 else (rng.uniform(-0.9, 0.9), rng.uniform(-0.9, 0.9))
            answer(face, user, category, *point, seconds_spent=round(rng.uniform(1, 20), 1),
                   shown_blind=rng.random() < 0.3, kept_suggestion=rng.random() < 0.5)
        r = rng.random()
        if r < 0.2:
            flag(face, reason=rng.choice((Flag.Reason.ANNOTATOR_VS_ANNOTATOR, Flag.Reason.SPOT_CHECK)))
        elif r < 0.35:
            category = rng.randrange(9)
            services.decision_make(face=face, reviewer=reviewer, category=category, valence=0.1, arousal=0.2)
        if rng.random() < 0.15:
            GoldItem.objects.create(face=face, category=rng.randrange(9, NUM_CATEGORIES))  # no point needed
        made.append(face)
    return project, made, users, reviewer


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_partials_merged_equal_the_figures_over_every_face(data_root, small_blocks, seed):
    project, faces, _, _ = random_project(seed)
    # another project's faces share blocks with these and must not count
    other, _, _, _ = random_project(seed + 10, faces=9, slug="other")
    data = dashboard_data(project=project)
    assert data["blocks"]["blocks"] >= 10
    assert data["evaluation"]["faces"] > 0 or seed == 3  # val faces with an independent label (none in seed 3)
    assert_same(data, direct(project))
    assert_same(dashboard_data(project=other), direct(other))
    # the agreement of the API and the command, with and without a split
    for splits in (None, ["val"], ["train", "unassigned"]):
        rows = agreement_rows(scope={project.pk}, splits=splits)
        want = inter_annotator_agreement(rows["face"], rows["annotator"], rows["category"], rows["valence"],
                                         rows["arousal"], num_categories=NUM_CATEGORIES)
        got = agreement(scope={project.pk}, splits=splits)
        close({k: got[k] for k in want}, want, f"agreement {splits}")


@pytest.mark.django_db
def test_medians_from_partials_match_the_database_median(data_root, small_blocks):
    """np.median over the blocks' seconds = PERCENTILE_CONT(0.5) on PostgreSQL, the window fallback on SQLite."""
    project, _, _, _ = random_project(7, faces=25)
    merged = aggregates.answers_merge(aggregates.block_partials([project], ("answers",))[0][("answers", project.pk)])
    assert aggregates.medians_of(merged) == pytest.approx(_medians_seconds(project))
    assert aggregates.gold_of(merged) == gold_accuracy(scope={project.pk})


def needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("fingerprints need PostgreSQL's xmin: set DATABASE_URL=postgres://...")


@pytest.mark.django_db(transaction=True)
def test_a_change_in_one_block_recomputes_that_block_only(data_root, small_blocks):
    """Each change below commits on its own (as in production) and touches one face: the next
    dashboard recomputes one block and equals the figures over every face."""
    needs_postgres()
    project, faces, users, reviewer = random_project(5, faces=30)
    first = dashboard_data(project=project)
    assert first["blocks"]["recomputed"] == first["blocks"]["blocks"] >= 8
    assert dashboard_data(project=project)["blocks"]["recomputed"] == 0  # nothing changed: all from the cache

    def check(change):
        change()
        data = dashboard_data(project=project)
        assert data["blocks"]["recomputed"] == 1, change.__doc__
        assert_same(data, direct(project))

    face = faces[13]
    newcomer = make_user("newcomer", "annotator", projects=[project])

    def add_answer():
        """an answer added"""
        answer(face, newcomer, 4, 0.3, -0.2, seconds_spent=33.0)

    def decide():
        """a decision made"""
        services.decision_make(face=faces[14], reviewer=reviewer, category=2, valence=-0.5, arousal=0.5)

    def open_flag():
        """a flag opened"""
        flag(faces[21], reason=Flag.Reason.SPOT_CHECK, key="again")

    def move_split():
        """a face's split changed"""
        f = Face.objects.get(pk=faces[25].pk)
        Face.objects.filter(pk=f.pk).update(split="val" if f.split != "val" else "train")

    def delete_answer():
        """an answer deleted"""
        a = Annotation.objects.filter(face__in=faces[4:8]).order_by("id").first()
        Annotation.objects.filter(pk=a.pk).delete()
        Face.objects.filter(pk=a.face_id).update(answer_count=Annotation.objects.filter(face_id=a.face_id).count())
        face_refresh_final_label(face_id=a.face_id)

    def change_answer():
        """an answer changed in place (an update, the same row count)"""
        a = Annotation.objects.filter(face__in=faces[28:30]).order_by("id").first()
        Annotation.objects.filter(pk=a.pk).update(category=(a.category + 1) % 9, seconds_spent=a.seconds_spent + 1)

    def change_decision():
        """a decision's category changed by itself (the face row untouched)"""
        Decision.objects.filter(face_id=faces[14].pk).update(category=6)

    def unmark_gold():
        """a gold label removed (the face row untouched)"""
        GoldItem.objects.filter(face__in=faces).order_by("face_id").first().delete()

    def suggestion_changed():
        """the active model's suggestion changed (the face row untouched)"""
        from annotator.models import Suggestion

        s = Suggestion.objects.filter(face__in=faces[16:20], face__annotations__isnull=False).order_by("id").first()
        Suggestion.objects.filter(pk=s.pk).update(category=(s.category + 1) % 9)

    for change in (add_answer, decide, open_flag, move_split, delete_answer, change_answer, change_decision,
                   unmark_gold, suggestion_changed):
        check(change)
    # the overview reads the same kind of partials (its own kinds, computed once, then kept)
    projects_overview([project])
    assert projects_overview([project])[0]["faces"] == len(faces)


@pytest.mark.django_db
def test_blocks_are_counted_on_sqlite_too(data_root, small_blocks):
    """Without fingerprints every block is computed each time, through the same path."""
    if connection.vendor == "postgresql":
        pytest.skip("SQLite's path")
    project, faces, _, _ = random_project(4, faces=12)
    blocks = len({f.id // 4 for f in faces})
    assert dashboard_data(project=project)["blocks"] == {"blocks": blocks, "recomputed": blocks}
    assert np.all([r["faces"] >= 0 for r in dashboard_data(project=project)["progress"]])


@pytest.mark.django_db
def test_the_periodic_refresh_keeps_every_projects_figures(data_root, small_blocks):
    from django.core.cache import cache

    from reviews.dashboard import CACHE_KEY, dashboard_cached
    from reviews.tasks import dashboard_figures_refresh

    project, _, _, _ = random_project(6, faces=8)
    assert cache.get(f"{CACHE_KEY}:{project.pk}") is None
    assert dashboard_figures_refresh() >= 2  # the default project and this one
    kept = cache.get(f"{CACHE_KEY}:{project.pk}")
    assert kept is not None and dashboard_cached(project=project)["computed_at"] == kept["computed_at"]


@pytest.mark.django_db
def test_feedback_figures_whatever_the_scope(data_root):
    """The feedback page's count, median, reviewed and overturned (PostgreSQL: from the (annotator,
    seconds) index when no face lies outside the scope, else joined with the faces) equal the plain
    per-figure reads, for a scope of one project, of both, and of the only project with faces."""
    from reviews.selectors import annotator_feedback, overturn_counts, seconds_median

    one, faces_one, users, reviewer = random_project(8, faces=14, slug="fb1")
    worker = users[0]
    for scope in ({one.pk}, None):
        got = annotator_feedback(annotator=worker, scope=scope)
        want = overturn_counts(annotator_id=worker.pk, scope=scope)[worker.pk]
        assert (got["answers"], got["reviewed"], got["overturned"]) == (want["answers"], want["reviewed"],
                                                                        want["overturned"])
        assert got["median_seconds"] == pytest.approx(seconds_median(annotator_id=worker.pk, scope=scope))
    two = project_create(slug="fb2", name="fb2")
    from annotator.models import ProjectMembership

    ProjectMembership.objects.create(project=two, user=worker)
    for i in range(3):
        face = make_face(project=two)
        answer(face, worker, 1, 0.1, 0.1, seconds_spent=100.0 + i)
    services.decision_make(face=face, reviewer=make_user("fb2-r", "reviewer", projects=[two]), category=2,
                           valence=0.3, arousal=0.3)
    for scope in ({one.pk}, {two.pk}, {one.pk, two.pk}):
        got = annotator_feedback(annotator=worker, scope=scope)
        want = overturn_counts(annotator_id=worker.pk, scope=scope)[worker.pk]
        assert (got["answers"], got["reviewed"], got["overturned"]) == (want["answers"], want["reviewed"],
                                                                        want["overturned"]), scope
        assert got["median_seconds"] == pytest.approx(seconds_median(annotator_id=worker.pk, scope=scope)), scope


def test_the_file_cache_keeps_every_partial_of_a_million_faces():
    """Without Redis the cache is a folder of files; at Django's default of 300 entries it culled a third of
    the partials on every write, so each recompute at a million faces was a cold one (seen in bench_reads)."""
    import math

    from annotator.config.settings import cache_settings

    partials = len(aggregates.KINDS) * math.ceil(1_000_000 / aggregates.BLOCK_FACES)
    assert cache_settings(None)["default"]["OPTIONS"]["MAX_ENTRIES"] >= 10 * partials


@pytest.mark.django_db
def test_the_evaluations_measures_are_kept_until_a_val_label_changes(data_root, small_blocks, monkeypatch):
    """The bootstrap behind the evaluation runs once for the same val faces and predictions: a recompute
    with nothing changed, or with new answers on other faces, reuses it; a val face's new label does not."""
    from django.core.cache import cache

    from annotator.training import selectors as training_selectors

    project, faces, users, reviewer = random_project(1)
    calls = []
    real = training_selectors.evaluate_predictions

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(training_selectors, "evaluate_predictions", counted)
    cache.clear()
    first = dashboard_data(project=project)["evaluation"]
    assert first["faces"] > 0 and len(calls) == 1
    assert dashboard_data(project=project)["evaluation"] == first and len(calls) == 1
    train_face = next(f for f in faces if f.split == "train")
    answer(train_face, make_user("late", "annotator", projects=[project]), 2, 0.1, 0.1)
    assert dashboard_data(project=project)["evaluation"] == first and len(calls) == 1
    # a val face already in the evaluation (a reviewer's label) given another category: the same faces and
    # predictions, another truth
    val_face = next(f for f in faces if f.split == "val" and Decision.objects.filter(face=f).exists())
    decided = Decision.objects.get(face=val_face).category
    services.decision_make(face=val_face, reviewer=reviewer, category=(decided + 1) % 9, valence=-0.3, arousal=0.6)
    second = dashboard_data(project=project)["evaluation"]
    assert len(calls) == 2 and second["faces"] == first["faces"] and second != first
    project.refresh_from_db()
    close(without_intervals_of(second), suggester_evaluate(project.active_suggester, "val", projects=[project]),
          "evaluation")


def points(evaluation):
    """An evaluation's measures and counts, less its intervals."""
    return {k: v for k, v in without_intervals_of(evaluation).items() if k != "intervals"}


@pytest.mark.django_db
def test_a_bootstrap_too_big_to_wait_for_is_left_to_the_worker_and_the_earlier_intervals_shown(
        data_root, small_blocks, settings, eager_tasks, tmp_path, monkeypatch):
    """Over EVALUATION_INLINE_CELLS a recompute gives today's measures at once, with the intervals last computed
    (marked not current, of when and how many faces), and queues one refresh; the refresh (the worker) keeps the
    figures with today's intervals, equal to suggester_evaluate's."""
    from django.core.cache import cache

    from annotator.config.celery import app
    from annotator.training import selectors as training_selectors
    from reviews.dashboard import INTERVALS_QUEUED_KEY, dashboard_cached, evaluation_intervals_ask
    from tests.suggestions.test_worker import folder_broker

    settings.EVALUATION_INLINE_CELLS = 0  # every bootstrap is too big for a request
    project, faces, _, reviewer = random_project(1)
    project.refresh_from_db()  # its active model
    cache.clear()
    calls = []
    real = training_selectors.evaluate_predictions
    monkeypatch.setattr(training_selectors, "evaluate_predictions",
                        lambda *a, **k: calls.append(k["resamples"]) or real(*a, **k))
    # never computed: the measures now, no intervals yet; a second recompute reads the measures kept
    first = dashboard_data(project=project)["evaluation"]
    assert dashboard_data(project=project)["evaluation"] == first and calls == [0]
    want = suggester_evaluate(project.active_suggester, "val", projects=[project])
    assert first["intervals_of"] == {"faces": None, "computed_at": None, "current": False}
    assert all(v is None for part in first["intervals"].values() for v in part.values())
    close(points(first), points(want), "evaluation")
    # the recompute behind the page queues the refresh (run here, eagerly): the kept figures carry today's intervals
    dashboard_cached(project=project, refresh=True)
    kept = dashboard_cached(project=project)["evaluation"]
    assert kept["intervals_of"]["current"] and kept["intervals_of"]["faces"] == want["categorical"]["n"]
    close(without_intervals_of(kept), want, "evaluation")
    assert cache.get(f"{INTERVALS_QUEUED_KEY}:{project.pk}") is None  # the refresh cleared its mark
    # a val label changes: today's measures at once, the intervals of before, marked so
    val_face = next(f for f in faces if f.split == "val" and Decision.objects.filter(face=f).exists())
    decided = Decision.objects.get(face=val_face).category
    services.decision_make(face=val_face, reviewer=reviewer, category=(decided + 1) % 9, valence=-0.3, arousal=0.6)
    now = suggester_evaluate(project.active_suggester, "val", projects=[project])
    assert points(now) != points(want)
    later = dashboard_data(project=project)["evaluation"]
    close(points(later), points(now), "evaluation")
    assert later["intervals"] == kept["intervals"]
    assert later["intervals_of"] == {**kept["intervals_of"], "current": False}
    # one refresh queued however many recomputes ask, until it starts
    with folder_broker(tmp_path) as queue:
        app.conf.task_always_eager = False  # queued, not run (eager_tasks puts it back)
        assert evaluation_intervals_ask(project, later)
        assert not evaluation_intervals_ask(project, later)
        assert not evaluation_intervals_ask(project, kept)  # current intervals: nothing to ask
        assert len(list(queue.glob("*.msg"))) == 1
    cache.delete(f"{INTERVALS_QUEUED_KEY}:{project.pk}")


@pytest.mark.django_db
def test_a_bootstrap_within_the_inline_cells_runs_in_the_recompute(data_root, small_blocks, settings):
    from django.core.cache import cache

    settings.EVALUATION_INLINE_CELLS = 10**9
    project, _, _, _ = random_project(2)
    project.refresh_from_db()
    cache.clear()
    evaluation = dashboard_data(project=project)["evaluation"]
    assert evaluation["intervals_of"]["current"] and evaluation["intervals_of"]["faces"] == evaluation["categorical"]["n"]
    close(without_intervals_of(evaluation), suggester_evaluate(project.active_suggester, "val", projects=[project]),
          "evaluation")


@pytest.mark.django_db(transaction=True)
def test_the_change_log_folded_keeps_every_fingerprint_and_a_change_committed_after_still_shows(data_root):
    """Beat folds the log's rows into one summary row a block: the fingerprints stay as they were and the log
    shrinks; an answer written by another connection before the fold and committed after it (the fold could
    not see it) changes its block's fingerprint, as does any change after the fold."""
    needs_postgres()
    from django.db import connections

    from reviews.models import BlockChange

    project, faces, users, _ = random_project(6, faces=40)
    before = aggregates.block_fingerprints()
    rows = BlockChange.objects.count()
    assert before and rows > len(before)  # many statements logged per block
    # another connection answers a face and holds its transaction open over the fold
    other = connections.create_connection("default")
    face = faces[7]
    block = face.id // aggregates.BLOCK_FACES
    with other.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute(
            "INSERT INTO annotator_annotation (face_id, annotator_id, category, valence, arousal, seconds_spent,"
            " shown_blind, kept_suggestion, outside_region_confirmed, imported, created_at, updated_at)"
            " VALUES (%s, %s, 3, 0.1, 0.2, 4.0, false, false, false, false, now(), now())", [face.id, users[5].pk])
    try:
        folded = aggregates.block_changes_compact()
        assert folded > 0 and BlockChange.objects.count() < rows
        assert aggregates.block_fingerprints() == before  # folding changes no fingerprint
        assert aggregates.block_changes_compact() == 0  # nothing left to fold
        with other.cursor() as cursor:
            cursor.execute("COMMIT")
    finally:
        other.close()
    after = aggregates.block_fingerprints()
    assert after[block] != before[block] and {b: f for b, f in after.items() if b != block} == \
        {b: f for b, f in before.items() if b != block}
    aggregates.block_changes_compact()
    assert aggregates.block_fingerprints() == after
    Face.objects.filter(pk=faces[30].pk).update(split="train" if faces[30].split != "train" else "val")
    assert aggregates.block_fingerprints()[faces[30].id // aggregates.BLOCK_FACES] != after[faces[30].id // aggregates.BLOCK_FACES]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("table", ["annotator_face", "annotator_annotation", "annotator_suggestion", "reviews_flag",
                                   "reviews_decision", "reviews_golditem"])
def test_an_update_and_a_delete_in_any_of_the_figures_tables_change_the_blocks_fingerprint(data_root, table):
    """Raw SQL (an admin's fix, a script): the triggers log it as they log the app's writes."""
    needs_postgres()
    project, faces, _, reviewer = random_project(7, faces=40)
    for face in faces[:3]:
        GoldItem.objects.get_or_create(face=face, defaults={"category": 9})  # no point needed
        flag(face, reason=Flag.Reason.SPOT_CHECK, key="log")
        if not Decision.objects.filter(face=face).exists():
            services.decision_make(face=face, reviewer=reviewer, category=2, valence=0.1, arousal=0.1)
    column = "id" if table == "annotator_face" else "face_id"
    stamp = {"reviews_decision": "decided_at"}.get(table, "created_at")  # a real change; a no-op UPDATE logs nothing
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE {column} = ANY(%s) ORDER BY {column} LIMIT 1",
                       [[f.id for f in faces]])
        face_id = cursor.fetchone()[0]
        block = face_id // aggregates.BLOCK_FACES
        before = aggregates.block_fingerprints()
        cursor.execute(f"UPDATE {table} SET {column} = {column} WHERE {column} = %s", [face_id])
        assert cursor.rowcount > 0 and aggregates.block_fingerprints() == before  # the same values: nothing changed
        for statement in (f"UPDATE {table} SET {stamp} = {stamp} + interval '1 second' WHERE {column} = %s",
                          f"DELETE FROM {table} WHERE {column} = %s" if table != "annotator_face" else
                          "UPDATE annotator_face SET answer_count = answer_count + 1 WHERE id = %s"):
            before = aggregates.block_fingerprints()
            cursor.execute(statement, [face_id])
            after = aggregates.block_fingerprints()
            assert after[block] != before[block], statement
            assert {b: f for b, f in after.items() if b != block} == {b: f for b, f in before.items() if b != block}


@pytest.mark.django_db
def test_every_table_the_figures_read_has_the_change_log_triggers():
    """A table added to the figures without the triggers would change figures without moving a fingerprint."""
    needs_postgres()
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                       " WHERE t.tgname LIKE 'reviews_block_change_%%' AND t.tgenabled <> 'D'")
        found = set(cursor.fetchall())
    for table, _ in aggregates._fingerprint_tables():
        for suffix in ("ins", "upd", "del"):
            assert (table, f"reviews_block_change_{suffix}") in found, (table, suffix)
