"""A request's recompute of the figures stops at its time limit (DASHBOARD_RECOMPUTE_SECONDS): the blocks it
computed are kept, the next read goes on from them, the page and the API show the last complete figures (or
none) with what is left, and the worker is asked to finish. PostgreSQL only: without fingerprints (SQLite)
every block is computed every time, whatever the limit.

A limit of 0 s lets a request compute one step (CHUNK_BLOCKS blocks, 2 here, of BLOCK_FACES = 4 faces)."""
import pytest
from django.core.cache import cache
from django.test import Client

from annotator.models import Annotation
from reviews import aggregates
from reviews.dashboard import CACHE_KEY, FIGURES_QUEUED_KEY, dashboard_cached, projects_overview_cached
from reviews.tasks import dashboard_figures_refresh
from tests.conftest import make_user
from tests.reviews.test_dashboard_partials import assert_same, direct, needs_postgres, random_project


@pytest.fixture
def two_block_steps(monkeypatch):
    monkeypatch.setattr(aggregates, "BLOCK_FACES", 4)
    monkeypatch.setattr(aggregates, "CHUNK_BLOCKS", 2)


def change_answers_in_blocks(faces, n):
    """Change one answer in each of `n` blocks (each an update committed on its own)."""
    by_block = {}
    for a in Annotation.objects.filter(face__in=faces).order_by("id"):
        by_block.setdefault(a.face_id // aggregates.BLOCK_FACES, a)
    assert len(by_block) >= n
    for a in list(by_block.values())[:n]:
        Annotation.objects.filter(pk=a.pk).update(seconds_spent=a.seconds_spent + 1)


@pytest.mark.django_db(transaction=True)
def test_a_recompute_past_its_limit_keeps_what_it_computed_and_the_next_goes_on(data_root, two_block_steps):
    needs_postgres()
    project, faces, _, _ = random_project(7, faces=30)
    cache.clear()
    lefts = []
    while True:
        data = dashboard_cached(project=project, refresh=True, seconds=0)
        if "pending" not in data:
            break
        # nothing complete kept yet: no figures, never the blocks computed so far shown as if they were all
        assert data["computed_at"] is None and "progress" not in data and "annotators" not in data
        assert data["pending"]["recomputed"] == 2
        assert cache.get(FIGURES_QUEUED_KEY)  # the worker asked to finish
        lefts.append(data["pending"]["left"])
    assert len(lefts) >= 3 and all(a - b == 2 for a, b in zip(lefts, lefts[1:])), lefts  # each read goes on
    assert data["blocks"]["recomputed"] <= 2  # the last step's blocks; the others came from the cache
    assert_same(data, direct(project))

    # a change in many blocks: the last complete figures, marked, until the recompute is through
    change_answers_in_blocks(faces, 6)
    pending = dashboard_cached(project=project, refresh=True, seconds=0)
    assert pending["pending"] == {"blocks": data["blocks"]["blocks"], "recomputed": 2, "left": 4}
    assert pending["computed_at"] == data["computed_at"] and pending["annotators"] == data["annotators"]
    # the worker's recompute has no limit: every changed block at once, and the figures whole again
    cache.delete(FIGURES_QUEUED_KEY)
    dashboard_figures_refresh()
    kept = cache.get(f"{CACHE_KEY}:{project.pk}")
    assert "pending" not in kept and kept["blocks"]["recomputed"] == 4
    assert_same(kept, direct(project))


@pytest.mark.django_db(transaction=True)
def test_within_its_limit_a_recompute_is_whole(data_root, two_block_steps):
    needs_postgres()
    project, faces, _, _ = random_project(8, faces=30)
    dashboard_cached(project=project, refresh=True)  # every block kept
    change_answers_in_blocks(faces, 2)
    data = dashboard_cached(project=project, refresh=True, seconds=0)  # one step: no limit reached
    assert "pending" not in data and data["blocks"]["recomputed"] == 2
    assert_same(data, direct(project))
    change_answers_in_blocks(faces, 5)
    data = dashboard_cached(project=project, refresh=True, seconds=60)  # three steps, well within a minute
    assert "pending" not in data and data["blocks"]["recomputed"] == 5


@pytest.mark.django_db(transaction=True)
def test_the_pages_and_the_api_show_what_is_left(data_root, two_block_steps, settings):
    needs_postgres()
    settings.DASHBOARD_RECOMPUTE_SECONDS = 0
    project, faces, _, reviewer = random_project(9, faces=30)
    make_user("second-lead", "reviewer", projects=[project])
    client = Client()
    client.force_login(reviewer)
    cache.clear()

    page = client.get(f"/review/dashboard/?project={project.slug}").content.decode()
    assert 'id="figures-pending"' in page and "The figures appear here when done" in page
    assert 'id="progress"' not in page and 'id="standings"' in page  # no figures yet; the standings are live

    api = client.get(f"/api/review/dashboard/?project={project.slug}")
    assert api.status_code == 202 and api.json()["pending"]["left"] > 0 and api.json()["computed_at"] is None
    agreement = client.get(f"/api/review/agreement/?project={project.slug}")
    assert agreement.status_code == 202 and agreement.json()["pending"]["left"] > 0

    dashboard_figures_refresh()  # the worker
    page = client.get(f"/review/dashboard/?project={project.slug}&refresh=1").content.decode()
    assert 'id="figures-pending"' not in page and 'id="progress"' in page
    assert client.get(f"/api/review/agreement/?project={project.slug}").status_code == 200
    assert client.get(f"/api/review/dashboard/?project={project.slug}").status_code == 200

    change_answers_in_blocks(faces, 6)
    page = client.get(f"/review/dashboard/?project={project.slug}&refresh=1").content.decode()
    assert "Shown meanwhile: the last complete figures" in page and 'id="progress"' in page


@pytest.mark.django_db(transaction=True)
def test_the_projects_overview_past_its_limit(data_root, two_block_steps):
    needs_postgres()
    project, _, _, _ = random_project(10, faces=30)
    cache.clear()
    first = projects_overview_cached([project], refresh=True, seconds=0)
    assert first["computed_at"] is None and first["pending"]["left"] > 0 and "projects" not in first
    whole = projects_overview_cached([project], refresh=True)
    assert whole["projects"][0]["faces"] == 30 and "pending" not in whole
