"""The API's one exception handler (REST_FRAMEWORK["EXCEPTION_HANDLER"]): a service's DomainError
becomes JSON here, for every endpoint, so views call services without try/except.

The body has DRF's own shapes, so a client reads every refusal alike: {field: [message]} when the
error names its field, else {"non_field_errors": [message]} for bad input and {"detail": message}
for a refusal of the state (no claim, answered already) or a missing row. Anything else goes to
DRF's handler.
"""
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from annotator.domain.errors import CONFLICT, INVALID, NOT_FOUND, DomainError

STATUS_BY_KIND = {INVALID: 400, NOT_FOUND: 404, CONFLICT: 409}


def domain_error_body(error: DomainError, *, field_names: dict | None = None) -> dict:
    """Return the JSON body of a DomainError; `field_names` renames a service's field to the view's input
    (a decision's `annotation` arrives as `annotation_id`)."""
    if error.field:
        return {(field_names or {}).get(error.field, error.field): [error.message]}
    if error.kind == INVALID:
        return {api_settings.NON_FIELD_ERRORS_KEY: [error.message]}
    return {"detail": error.message}


def exception_handle(exc, context):
    """Answer a DomainError with its kind's status and its field; leave every other exception to DRF."""
    if not isinstance(exc, DomainError):
        return drf_exception_handler(exc, context)
    set_rollback()  # as DRF does for its own refusals: nothing a refused request wrote is kept
    field_names = getattr(context.get("view"), "error_field_names", None)
    return Response(domain_error_body(exc, field_names=field_names), status=STATUS_BY_KIND[exc.kind])
