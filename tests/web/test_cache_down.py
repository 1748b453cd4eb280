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
