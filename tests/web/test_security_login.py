"""Sign-in lockout (django-axes) through the real login views: per username, per client address,
the lockout page, and the client address behind a reverse proxy (X-Forwarded-For read only then)."""
from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from tests.conftest import make_user
from tests.security_helpers import (
    ADMIN_LOGIN,
    LOGIN,
    apply_client_address_settings,
    settings_for_env,
    sign_in,
)

PASSWORD = "pw-for-tests-123"
LIMIT = 5  # LOGIN_FAILURE_LIMIT's default


@pytest.fixture
def behind_one_proxy(settings):
    """The client-address settings of a deployment with BEHIND_PROXY=1 (PROXY_COUNT left at its default)."""
    derived = settings_for_env(BEHIND_PROXY="1")
    apply_client_address_settings(settings, derived)
    return derived


def attempts():
    """The failed sign-ins axes holds (imported here: without axes installed the other tests still run)."""
    from axes.models import AccessAttempt

    return AccessAttempt.objects


def assert_lockout_page(response, minutes=15):
    assert response.status_code == 429
    text = " ".join(response.content.decode().split())
    assert (f"Too many failed sign-ins for this account or address; try again in {minutes} minutes "
            "or ask an admin.") in text
    assert '<header class="topbar">' in text  # the site's own page (extends base.html), not a bare message


def test_defaults_from_the_environment():
    derived = settings_for_env()
    assert derived["AXES_FAILURE_LIMIT"] == 5 and derived["AXES_COOLOFF_MINUTES"] == 15
    assert derived["AXES_LOCKOUT_PARAMETERS"] == ["username", "ip_address"]
    assert derived["AXES_RESET_ON_SUCCESS"] is True
    # Not behind a proxy: only the socket's address counts, X-Forwarded-For is never read.
    assert derived["AXES_IPWARE_META_PRECEDENCE_ORDER"] == ["REMOTE_ADDR"]
    assert derived["SECURE_PROXY_SSL_HEADER"] is None

    derived = settings_for_env(LOGIN_FAILURE_LIMIT="3", LOGIN_LOCKOUT_MINUTES="60", BEHIND_PROXY="1", PROXY_COUNT="2")
    assert derived["AXES_FAILURE_LIMIT"] == 3 and derived["AXES_COOLOFF_MINUTES"] == 60
    assert derived["AXES_IPWARE_META_PRECEDENCE_ORDER"] == ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
    assert derived["AXES_IPWARE_PROXY_COUNT"] == 1  # ipware counts the proxies listed in the header
    assert derived["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


@pytest.mark.django_db
def test_forty_wrong_passwords_then_the_right_one_is_refused(annotator_user):
    statuses = [sign_in("ann1", f"wrong-{i}")[0].status_code for i in range(40)]
    assert statuses[: LIMIT - 1] == [200] * (LIMIT - 1)  # the form again, "didn't match"
    assert set(statuses[LIMIT - 1:]) == {429}  # from the limit on: the lockout page
    response, signed_in = sign_in("ann1", PASSWORD)
    assert not signed_in
    assert_lockout_page(response)


@pytest.mark.django_db
def test_lockout_page_is_a_clear_429_page(settings, annotator_user):
    settings.AXES_COOLOFF_TIME = settings.AXES_COOLOFF_TIME * 2  # LOGIN_LOCKOUT_MINUTES=30
    for i in range(LIMIT - 1):
        sign_in("ann1", f"wrong-{i}")
    response, _ = sign_in("ann1", "wrong-last")
    assert_lockout_page(response, minutes=30)
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_one_username_is_locked_whichever_address_the_guesses_come_from(annotator_user, second_annotator):
    for i in range(LIMIT):
        sign_in("ann1", f"wrong-{i}", address=f"198.51.100.{i + 1}")
    response, signed_in = sign_in("ann1", PASSWORD, address="198.51.100.99")
    assert not signed_in
    assert_lockout_page(response)
    # The address itself is not locked: another account signs in from it.
    assert sign_in("ann2", PASSWORD, address="198.51.100.99")[1]


@pytest.mark.django_db
def test_one_address_is_locked_whichever_usernames_it_tries(annotator_user):
    for i in range(LIMIT):
        sign_in(f"someone-{i}", "guess", address="198.51.100.7")
    response, signed_in = sign_in("ann1", PASSWORD, address="198.51.100.7")
    assert not signed_in
    assert_lockout_page(response)
    assert sign_in("ann1", PASSWORD, address="198.51.100.8")[1]  # from elsewhere the account is fine


@pytest.mark.django_db
def test_admin_login_is_covered(admin_user_role):
    for i in range(LIMIT - 1):
        assert sign_in("admin1", f"wrong-{i}", path=ADMIN_LOGIN)[0].status_code == 200
    assert_lockout_page(sign_in("admin1", "wrong-last", path=ADMIN_LOGIN)[0])
    response, signed_in = sign_in("admin1", PASSWORD, path=ADMIN_LOGIN)
    assert not signed_in
    assert_lockout_page(response)
    # ...and the lockout is the account's, on the other sign-in form too.
    assert not sign_in("admin1", PASSWORD)[1]


@pytest.mark.django_db
def test_the_lockout_ends_after_the_wait(annotator_user):
    for i in range(LIMIT):
        sign_in("ann1", f"wrong-{i}")
    assert not sign_in("ann1", PASSWORD)[1]
    # 16 minutes later (the failures are moved back in time, past LOGIN_LOCKOUT_MINUTES' 15)
    attempts().update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert sign_in("ann1", PASSWORD)[1]


@pytest.mark.django_db
def test_a_good_sign_in_forgets_that_accounts_failures(annotator_user):
    for round_ in range(3):
        for i in range(LIMIT - 1):
            sign_in("ann1", f"wrong-{round_}-{i}")
        assert sign_in("ann1", PASSWORD)[1]
    assert not attempts().filter(username="ann1").exists()


@pytest.mark.django_db
def test_signing_in_to_ones_own_account_does_not_clear_the_guesses_at_another(annotator_user, admin_user_role):
    """Axes' stock reset would delete every failure from the address, so 4 guesses + 1 own sign-in
    could be repeated for ever."""
    for round_ in range(3):
        for i in range(LIMIT - 1):
            sign_in("admin1", f"guess-{round_}-{i}", address="203.0.113.5")
        sign_in("ann1", PASSWORD, address="203.0.113.5")  # the attacker's own account
    response, signed_in = sign_in("admin1", PASSWORD, address="192.0.2.200")
    assert not signed_in
    assert_lockout_page(response)


@pytest.mark.django_db
def test_without_behind_proxy_x_forwarded_for_is_ignored(annotator_user):
    """A client cannot dodge the address lockout by writing a new X-Forwarded-For on each try."""
    for i in range(LIMIT):
        sign_in(f"someone-{i}", "guess", address="198.51.100.7", forwarded=f"203.0.113.{i + 1}")
    response, signed_in = sign_in("ann1", PASSWORD, address="198.51.100.7", forwarded="203.0.113.200")
    assert not signed_in
    assert_lockout_page(response)
    assert set(attempts().values_list("ip_address", flat=True)) == {"198.51.100.7"}


@pytest.mark.django_db
def test_behind_a_proxy_each_forwarded_address_is_counted_apart(behind_one_proxy, annotator_user):
    proxy = "127.0.0.1"  # every request reaches Django from the proxy
    for i in range(LIMIT):
        sign_in(f"someone-{i}", "guess", address=proxy, forwarded="198.51.100.7")
    # The locked address stays locked, even when the client writes its own X-Forwarded-For entry
    # (the proxy appends the real address after it).
    response, signed_in = sign_in("ann1", PASSWORD, address=proxy, forwarded="203.0.113.77, 198.51.100.7")
    assert not signed_in
    assert_lockout_page(response)
    # Other clients behind the same proxy are not locked out with it.
    assert sign_in("ann1", PASSWORD, address=proxy, forwarded="198.51.100.8")[1]
    assert set(attempts().values_list("ip_address", flat=True)) == {"198.51.100.7"}


def test_client_address_behind_two_proxies(settings):
    """PROXY_COUNT=2 (a load balancer, then nginx): the entry the load balancer appended is the client."""
    apply_client_address_settings(settings, settings_for_env(BEHIND_PROXY="1", PROXY_COUNT="2"))
    from axes.helpers import get_client_ip_address

    request = RequestFactory().post(LOGIN, REMOTE_ADDR="10.0.0.2",
                                    HTTP_X_FORWARDED_FOR="203.0.113.77, 198.51.100.7, 10.0.0.1")
    assert get_client_ip_address(request) == "198.51.100.7"


@pytest.mark.django_db
def test_existing_sign_in_ways_still_work(client, annotator_user):
    """The test client's login() (no request) and force_login() are not stopped by the lockout backend."""
    assert client.login(username="ann1", password=PASSWORD)
    other = make_user("ann9", "annotator")
    client.force_login(other)
    assert client.get("/annotate/").status_code == 200
