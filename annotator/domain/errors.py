"""The one error model of the services (Django-free).

A service refuses a request by raising a DomainError: what went wrong (`message`), the input it
concerns (`field`, where there is one) and what kind of refusal it is (`kind`). Services never know
HTTP: the API's exception handler (annotator.web.errors) turns the kind into a status, and the field
into the key of the JSON body, so no view maps errors or reads a field out of a message.
"""
INVALID = "invalid"  # the input is wrong whatever the state (a bad label, an unknown model)
NOT_FOUND = "not_found"  # the input names nothing there is
CONFLICT = "conflict"  # the input is fine but the state refuses it (no claim, answered already)

KINDS = (INVALID, NOT_FOUND, CONFLICT)


class DomainError(Exception):
    """A request a service refuses; `field` names the input at fault, None when no one input is."""

    kind = INVALID

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.kind not in KINDS:  # the handler has a status for these kinds only
            raise TypeError(f"{cls.__name__}.kind: {cls.kind!r} is not one of {', '.join(KINDS)}")

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        # Read alone (a log line, a command's error) the text names the field itself.
        return f"{self.field}: {self.message}" if self.field else self.message
