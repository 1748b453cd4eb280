"""Input fields the API's serializers share, with the bounds the database can hold."""
from rest_framework import serializers

from .models import MAX_ID, MAX_SECONDS_SPENT


def id_field(**kwargs) -> serializers.IntegerField:
    """Return an integer field for a row id: 1 to 2^63-1 (a larger number would overflow the database)."""
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


def seconds_spent_field(**kwargs) -> serializers.FloatField:
    """Return the time-spent field: seconds on one face, 0 to one hour."""
    return serializers.FloatField(min_value=0, max_value=MAX_SECONDS_SPENT, **kwargs)
