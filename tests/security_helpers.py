"""Helpers for the security tests: the settings a given environment produces, and sign-in posts."""
import json
import os
import subprocess
import sys
from pathlib import Path

from django.test import Client

BASE_DIR = Path(__file__).resolve().parent.parent
LOGIN, ADMIN_LOGIN = "/accounts/login/", "/admin/login/"
OUR_VARIABLES = ("BEHIND_PROXY", "PROXY_COUNT", "LOGIN_FAILURE_LIMIT", "LOGIN_LOCKOUT_MINUTES",
                 "API_THROTTLE_USER", "API_THROTTLE_ANON")

_PRINT_SETTINGS = """
import json
import annotator.config.settings as s
print(json.dumps({
    "AXES_FAILURE_LIMIT": s.AXES_FAILURE_LIMIT,
    "AXES_COOLOFF_MINUTES": s.AXES_COOLOFF_TIME.total_seconds() / 60,
    "AXES_LOCKOUT_PARAMETERS": s.AXES_LOCKOUT_PARAMETERS,
    "AXES_RESET_ON_SUCCESS": s.AXES_RESET_ON_SUCCESS,
    "AXES_IPWARE_PROXY_ORDER": s.AXES_IPWARE_PROXY_ORDER,
    "AXES_IPWARE_PROXY_COUNT": s.AXES_IPWARE_PROXY_COUNT,
    "AXES_IPWARE_META_PRECEDENCE_ORDER": list(s.AXES_IPWARE_META_PRECEDENCE_ORDER),
    "IPWARE_STRICT": s.IPWARE_STRICT,
    "NUM_PROXIES": s.REST_FRAMEWORK.get("NUM_PROXIES"),
    "DEFAULT_THROTTLE_RATES": s.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES"),
    "SECURE_PROXY_SSL_HEADER": s.SECURE_PROXY_SSL_HEADER,
}))
"""


def settings_for_env(**env):
    """The settings that annotator/settings.py derives from this environment (read in a fresh process)."""
    environment = {k: v for k, v in os.environ.items() if k not in OUR_VARIABLES}
    environment.update({k: str(v) for k, v in env.items()})
    result = subprocess.run([sys.executable, "-c", _PRINT_SETTINGS], cwd=BASE_DIR, env=environment,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def apply_client_address_settings(settings, derived):
    """Set, in this test process, the client-address settings a deployment's environment produced."""
    settings.AXES_IPWARE_PROXY_ORDER = derived["AXES_IPWARE_PROXY_ORDER"]
    settings.AXES_IPWARE_PROXY_COUNT = derived["AXES_IPWARE_PROXY_COUNT"]
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = tuple(derived["AXES_IPWARE_META_PRECEDENCE_ORDER"])
    settings.IPWARE_STRICT = derived["IPWARE_STRICT"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": derived["NUM_PROXIES"]}


def sign_in(username, password, *, address="192.0.2.10", forwarded=None, path=LOGIN):
    """POST the sign-in form from a fresh browser at this address; return (response, signed in?)."""
    client = Client()
    extra = {"REMOTE_ADDR": address}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    response = client.post(path, {"username": username, "password": password, "next": "/"}, **extra)
    return response, "_auth_user_id" in client.session
