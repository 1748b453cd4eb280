"""Redis down: every page keeps working without the cache (a real redis-server, stopped mid-test)."""
import pytest
from django.test import Client

from annotator.config.settings import cache_settings
from tests.review_factories import answer, make_face
from tests.suggestions.test_worker import own_redis  # noqa: F401  (a redis-server of the test's own, stopped and started)

PAGES = ["/review/dashboard/", "/api/review/dashboard/", "/api/review/dashboard/?refresh=1", "/review/",
         "/api/review/queue/", "/annotate/", "/api/annotations/mine/"]


@pytest.mark.worker
@pytest.mark.django_db
def test_pages_answer_while_redis_is_down(own_redis, settings, admin_user_role, annotator_user, data_root):  # noqa: F811
    url, start_redis, stop_redis = own_redis
    settings.CACHES = cache_settings(url)  # what the settings make of REDIS_URL
    answer(make_face(required=1), annotator_user, 1, 0.5, 0.3)
    client = Client()
    client.force_login(admin_user_role)
    assert client.get("/review/dashboard/").status_code == 200  # computed and kept in Redis

    stop_redis()
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.content[:300])
    assert client.get("/api/review/dashboard/").json()["progress"]  # computed afresh, not from the cache

    start_redis()
    assert client.get("/review/dashboard/").status_code == 200


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_with_redis_down_a_recompute_past_its_time_limit_still_gives_whole_figures(
        own_redis, settings, admin_user_role, annotator_user, data_root, monkeypatch):  # noqa: F811
    """Nothing a request computes is kept while the cache is down: stopping at the time limit would show
    "bringing the figures up to date" forever. It computes every block instead (as before the limit)."""
    from django.db import connection

    from reviews import aggregates

    if connection.vendor != "postgresql":
        pytest.skip("the time limit applies only with fingerprints (PostgreSQL)")
    url, start_redis, stop_redis = own_redis
    settings.CACHES = cache_settings(url)
    settings.DASHBOARD_RECOMPUTE_SECONDS = 0  # one step a request, then the limit
    monkeypatch.setattr(aggregates, "BLOCK_FACES", 2)
    monkeypatch.setattr(aggregates, "CHUNK_BLOCKS", 1)
    for i in range(8):
        answer(make_face(required=1), annotator_user, i % 9, 0.5, 0.3)
    client = Client()
    client.force_login(admin_user_role)
    up = client.get("/api/review/dashboard/?refresh=1")
    assert up.status_code == 202 and up.json()["pending"]["left"] > 0  # the limit holds while Redis keeps the blocks

    stop_redis()
    response = client.get("/api/review/dashboard/?refresh=1")
    assert response.status_code == 200, response.content[:300]
    data = response.json()
    assert "pending" not in data and sum(row["faces"] for row in data["progress"]) == 8
    page = client.get("/review/dashboard/?refresh=1").content.decode()
    assert 'id="figures-pending"' not in page and 'id="progress"' in page
    start_redis()
