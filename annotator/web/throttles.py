"""API throttles: DRF's per-user and per-address rate limits, with the rate read on each request.

DRF's throttle classes copy DEFAULT_THROTTLE_RATES once, when rest_framework.throttling is imported;
these read it from the current settings (API_THROTTLE_USER / API_THROTTLE_ANON), so a changed setting
takes effect without a restart of the import machinery (and tests can set a low rate).
The history of each client lives in Django's default cache.
"""
from rest_framework import throttling
from rest_framework.settings import api_settings


class _RateFromSettings:
    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class UserThrottle(_RateFromSettings, throttling.UserRateThrottle):
    """Requests per signed-in user (anonymous clients: per address) under the "user" rate."""


class AnonThrottle(_RateFromSettings, throttling.AnonRateThrottle):
    """Requests per client address of anonymous clients under the "anon" rate."""
