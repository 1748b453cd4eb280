"""Settings for the test run: the environment's settings, over plain HTTP, with fast hashing."""
import os
import secrets

# The settings refuse to start without a key while DEBUG is off; subprocesses the tests start inherit it.
os.environ.setdefault("SECRET_KEY", "tests-" + secrets.token_urlsafe(40))

from annotator.config.settings import *  # noqa: E402,F401,F403

SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405  (whitenoise warns when it is missing)
# Tests that claim faces get them at once: no calibration round, no pausing. The tests of calibration and
# pausing (tests/queue/test_calibration.py) turn them on with pytest-django's settings fixture.
CALIBRATION_FACES = 0
GOLD_PAUSE_BELOW = 0.0
if "benchmarks" not in INSTALLED_APPS:  # noqa: F405  (the tests run the benchmark commands at tiny sizes)
    INSTALLED_APPS = [*INSTALLED_APPS, "benchmarks"]  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory: the worker tests' celery subprocess opens the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}  # noqa: F405
