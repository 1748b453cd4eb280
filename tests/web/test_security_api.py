"""API throttles (DRF, rates from the settings at request time) and who may read the schema and its
docs page (a role), through the real views and Django's cache."""
import uuid

import pytest
from django.test import Client
from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from tests.conftest import make_user
from tests.project_helpers import set_policy
from tests.queue.test_queue import make_face
from tests.security_helpers import apply_client_address_settings, settings_for_env

NEXT, SUBMIT, MINE = "/api/queue/next/", "/api/annotations/", "/api/annotations/mine/"


class OpenPing(APIView):
    """An endpoint open to anonymous clients (the app has none today), to exercise the anon rate."""

    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("test-open-ping/", OpenPing.as_view()), path("", include("annotator.config.urls"))]


def rates(settings, user, anon):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": user, "anon": anon}}


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def assert_throttled(response):
    assert response.status_code == 429
    assert response["Content-Type"].startswith("application/json")
    assert "throttled" in response.json()["detail"]
    assert 1 <= int(response["Retry-After"]) <= 60


def test_throttle_settings_from_the_environment():
    derived = settings_for_env()
    assert derived["DEFAULT_THROTTLE_RATES"] == {"user": "600/min", "anon": "60/min"}
    assert derived["NUM_PROXIES"] == 0  # not behind a proxy: X-Forwarded-For is not read
    derived = settings_for_env(API_THROTTLE_USER="100/min", API_THROTTLE_ANON="5/min", BEHIND_PROXY="1",
                               PROXY_COUNT="2")
    assert derived["DEFAULT_THROTTLE_RATES"] == {"user": "100/min", "anon": "5/min"}
    assert derived["NUM_PROXIES"] == 2


@pytest.mark.django_db
def test_a_user_over_the_rate_gets_429_json_with_retry_after(settings, annotator_user, second_annotator):
    rates(settings, user="3/min", anon="60/min")
    client = client_for(annotator_user)
    assert [client.get(MINE).status_code for _ in range(3)] == [200, 200, 200]
    assert_throttled(client.get(MINE))
    # Per user: another annotator on the same address is not slowed.
    assert client_for(second_annotator).get(MINE).status_code == 200


@pytest.mark.django_db
def test_a_fast_annotator_is_never_throttled_at_the_default_rates(settings, annotator_user):
    """Two minutes of the fastest normal work (a claim and a submit every 1.5 s), done back to back."""
    defaults = settings_for_env()["DEFAULT_THROTTLE_RATES"]
    assert defaults == {"user": "600/min", "anon": "60/min"}
    rates(settings, **defaults)
    set_policy(blind_share=0.0)
    set_policy(gold_share=0.0)
    for n in range(80):
        make_face(n)
    client = client_for(annotator_user)
    statuses = []
    for _ in range(80):
        claim = client.post(NEXT, {"count": 1}, content_type="application/json")
        statuses.append(claim.status_code)
        if claim.status_code != 200:
            break
        [face] = claim.json()["faces"]
        answer = client.post(SUBMIT, {"face": face["id"], "category": 1, "valence": 0.5, "arousal": 0.2,
                                      "client_key": str(uuid.uuid4())}, content_type="application/json")
        statuses.append(answer.status_code)
    assert statuses.count(429) == 0, f"throttled at request {statuses.index(429) + 1}"
    assert len(statuses) == 160 and set(statuses) == {200, 201}


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_anonymous_clients_are_throttled_per_address(settings):
    rates(settings, user="600/min", anon="2/min")
    ping = "/test-open-ping/"
    assert [Client().get(ping, REMOTE_ADDR="198.51.100.7").status_code for _ in range(2)] == [200, 200]
    assert_throttled(Client().get(ping, REMOTE_ADDR="198.51.100.7"))
    # Without BEHIND_PROXY a new X-Forwarded-For does not make a new client...
    assert_throttled(Client().get(ping, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.9"))
    # ...another address does.
    assert Client().get(ping, REMOTE_ADDR="198.51.100.8").status_code == 200


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_behind_a_proxy_anonymous_clients_are_counted_by_forwarded_address(settings):
    apply_client_address_settings(settings, settings_for_env(BEHIND_PROXY="1"))
    rates(settings, user="600/min", anon="2/min")
    ping, proxy = "/test-open-ping/", "127.0.0.1"
    for _ in range(2):
        assert Client().get(ping, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 200
    # An entry the client wrote itself, left of the proxy's, changes nothing.
    assert_throttled(Client().get(ping, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7"))
    # Another client behind the same proxy is not throttled with it.
    assert Client().get(ping, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 200


# --- the schema and the docs page: a role is needed -----------------------------------------------

SCHEMA, DOCS = "/api/schema/", "/api/docs/"


@pytest.mark.django_db
def test_anonymous_cannot_read_the_schema_or_the_docs():
    client = Client()
    assert client.get(SCHEMA).status_code in (401, 403)
    docs = client.get(DOCS)
    assert docs.status_code == 302 and docs["Location"] == "/accounts/login/?next=/api/docs/"
    assert client.get(DOCS + "?script=").status_code in (401, 403)


@pytest.mark.django_db
def test_a_user_without_a_role_cannot_read_the_schema_or_the_docs():
    client = client_for(make_user("norole"))
    assert client.get(SCHEMA).status_code == 403
    assert client.get(DOCS).status_code == 403
    assert client.get(DOCS + "?script=").status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["annotator", "reviewer", "admin"])
def test_every_role_reads_the_schema_and_the_docs_served_from_here(role):
    client = client_for(make_user(f"user-{role}", role))
    schema = client.get(SCHEMA)
    assert schema.status_code == 200 and b"/api/queue/next/" in schema.content
    docs = client.get(DOCS)
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "//" not in html.replace("http://www.w3.org", "")  # nothing from elsewhere
    assert "<script>" not in html and "<style>" not in html  # nothing inline (the CSP forbids it)
    script = client.get(DOCS + "?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()
