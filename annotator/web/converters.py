"""URL converters: <id:...> matches a row id the database can hold (1 to 2^63-1), so a larger number
is a plain 404 instead of an overflow deep in the database driver."""
from annotator.models import MAX_ID


class IdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_ID:
            raise ValueError(f"{value} is not a row id")  # Django treats this as "no match": 404
        return number

    def to_url(self, value) -> str:
        return str(int(value))
