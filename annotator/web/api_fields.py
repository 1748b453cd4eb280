"""Input fields the API's serializers share, with the bounds the database can hold.

DRF's own number fields read whatever Python's int() and float() read: '٣' (an Arabic-Indic
three), '３', '𝟏', '1_000', ' 1' and '+1' as numbers, false and true as 0.0 and 1.0; its UUID field
reads 123, true and false as UUIDs. Those were stored as if the client had meant them. The fields
here take JSON numbers, and strings only when they are plain ASCII numbers (what a form sends).
"""
import re
import uuid

from rest_framework import serializers

from annotator.models import MAX_ID, MAX_SECONDS_SPENT

# DRF's IntegerField also takes "1.0" (and 1.0) as 1; that stays.
ASCII_INTEGER = re.compile(r"-?[0-9]+(\.0*)?\Z")
ASCII_NUMBER = re.compile(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\Z")


class _AsciiNumber:
    """Refuse booleans, and strings that are not `ascii_form`, before DRF's own number field reads them.

    (A string over MAX_STRING_LENGTH is left to DRF, which refuses it by its length.)
    """

    ascii_form: re.Pattern

    def to_internal_value(self, data):
        if isinstance(data, bool) or (
            isinstance(data, str) and len(data) <= self.MAX_STRING_LENGTH and not self.ascii_form.match(data)
        ):
            self.fail("invalid")
        return super().to_internal_value(data)


class IntegerField(_AsciiNumber, serializers.IntegerField):
    """An integer: a JSON number, or a string of ASCII digits. Never a boolean."""

    ascii_form = ASCII_INTEGER


class FloatField(_AsciiNumber, serializers.FloatField):
    """A finite number: a JSON number, or a string written in ASCII. Never a boolean."""

    ascii_form = ASCII_NUMBER


class UUIDField(serializers.UUIDField):
    """A UUID written as a string (DRF would also read a number, or true, as one)."""

    def to_internal_value(self, data):
        if not isinstance(data, (str, uuid.UUID)):
            self.fail("invalid", value=data)
        if isinstance(data, str) and not data.isascii():
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


def id_field(**kwargs) -> IntegerField:
    """Return an integer field for a row id: 1 to 2^63-1 (a larger number would overflow the database)."""
    return IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


def seconds_spent_field(**kwargs) -> FloatField:
    """Return the time-spent field: seconds on one face, 0 to one hour."""
    return FloatField(min_value=0, max_value=MAX_SECONDS_SPENT, **kwargs)
