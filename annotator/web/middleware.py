"""Answer "database unavailable, retry" (503) when the database cannot be reached, instead of a 500.

While PostgreSQL restarts (or on a network hiccup, a deadlock) a request fails with
OperationalError / InterfaceError. Sending it again is the cure: the annotate page retries 5xx
answers with the same client_key, so an answer is stored once even when the failure came after its
commit. API clients get JSON they can read, and a Retry-After header.
"""
import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2
MESSAGE = "database unavailable, retry"


def wants_json(request) -> bool:
    """Return whether an error for this request is answered as JSON: under /api/, or when asked for."""
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.warning("database unavailable for %s %s: %s", request.method, request.path, exception)
        if wants_json(request):
            response = JsonResponse({"detail": MESSAGE}, status=503)
        else:
            response = HttpResponse(
                "<!doctype html><title>Database unavailable</title><h1>Database unavailable</h1>"
                "<p>The database cannot be reached just now; nothing was changed. Try again in a moment.</p>",
                status=503,
            )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
