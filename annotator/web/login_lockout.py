"""Sign-in lockout (django-axes): what is forgotten after a good sign-in, and the page a locked-out
client sees."""
import math

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.shortcuts import render


class LockoutBackend(AxesStandaloneBackend):
    """Axes' lockout check for every sign-in that comes with a request (the login page, the admin's).

    authenticate() without a request is only ever called by code on the server (the test client's
    login(), a shell): there is no client address to count, so it is left to the next backend, where
    the stock backend would raise an error.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class LockoutHandler(AxesDatabaseHandler):
    """Axes' database handler, except that a successful sign-in forgets only that username's failures.

    The stock reset deletes every failure matching the username *or* the client address, so someone
    with their own account could guess another account's password a few times, sign in as themselves
    to wipe those failures, and guess again without end. Here the failures against other usernames
    stay, and still count against this address.
    """

    def reset_user_attempts(self, request, credentials=None) -> int:
        username = get_client_username(request, credentials)
        if not username:
            return 0
        count, _ = AccessAttempt.objects.filter(username=username).delete()
        return count


def lockout_response(request, original_response=None, credentials=None):
    """The lockout page (HTTP 429): why the sign-in was refused and how long to wait."""
    from django.conf import settings

    cool_off = get_cool_off(request)
    minutes = max(1, math.ceil(cool_off.total_seconds() / 60)) if cool_off else None
    return render(
        request,
        "registration/locked_out.html",
        {"minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
