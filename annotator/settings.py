"""Django settings, read from the environment (twelve-factor style).

Every setting a deployment changes is an environment variable; the defaults give a
zero-setup local install (SQLite under var/, no Redis needed).
"""
import json
import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))

_DEV_SECRET = "dev-only-insecure-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz"


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default, sep=","):
    value = os.environ.get(name)
    if not value:
        return list(default)
    return [item.strip() for item in value.split(sep) if item.strip()]


def env_float(name, default):
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", _DEV_SECRET)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "simple_history",
    "annotator",
    "reviews",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, so it sees the view's exceptions first: database down -> 503 "retry", not a 500.
    "annotator.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "annotator.urls"
WSGI_APPLICATION = "annotator.wsgi.application"
ASGI_APPLICATION = "annotator.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if not os.environ.get("DATABASE_URL"):
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # the zero-setup SQLite file lives here
_DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        _DATABASE_URL,
        # Seconds a process keeps its database connection between requests (0: one per request).
        # PostgreSQL: 60 by default, which saves a connection set-up on every request.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60 if _DATABASE_URL.startswith(("postgres", "pgsql")) else 0),
        # A kept connection is checked before a request uses it, so a database restarted meanwhile costs
        # no failed request: the broken connection is replaced.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; the timeout rides out short locks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    # Face crops go through Django's storage API, so an S3 backend is a settings change.
    "default": {"BACKEND": os.environ.get("FILE_STORAGE", "django.core.files.storage.FileSystemStorage")},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Folders that imports may read and exports may write; any other path is refused.
DATA_ROOTS = [
    Path(p).expanduser().resolve()
    for p in env_list("DATA_ROOTS", [VAR_DIR / "data", BASE_DIR / "annotator" / "demo"], sep=os.pathsep)
]

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# HTTPS hardening whenever DEBUG is off (what `check --deploy` asks for).
SECURE_HTTPS = env_bool("SECURE_HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_SSL_REDIRECT = SECURE_HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if SECURE_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = SECURE_HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_PROXY") else None
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Face annotator API",
    "DESCRIPTION": "AffectNet-style expression and valence/arousal annotation.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

# Celery: Redis when REDIS_URL is set, else kombu's filesystem transport (no server needed).
REDIS_URL = os.environ.get("REDIS_URL") or None

# Cache (the dashboard's figures): Redis when REDIS_URL is set, else files under var/, which every
# web process shares (no server needed).
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")}
    )
}
# The dashboard's figures are aggregates over every face (seconds at a million faces): they are
# kept this long, shown with their time, and a reviewer can recompute them at once.
DASHBOARD_CACHE_SECONDS = env_int("DASHBOARD_CACHE_SECONDS", 300)
BROKER_DIR = VAR_DIR / "broker"
# The filesystem transport ignores the host; naming one keeps kombu from warning that none was given.
CELERY_BROKER_URL = REDIS_URL or "filesystem://localhost"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {}
    if REDIS_URL
    else {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
    }
)
if not REDIS_URL:
    for _folder in ("queue", "control"):  # the embedded broker's folders must exist before the first send
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_MODEL_QUEUE = "model"
# Suggestion worker: model tasks on their own queue (the GPU box consumes only it), acknowledged
# after they finish (a killed worker's batch is delivered again), one task prefetched at a time.
CELERY_TASK_ROUTES = {
    "annotator.tasks.suggest_faces": {"queue": CELERY_MODEL_QUEUE},
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
if REDIS_URL:
    # An unacknowledged task (its worker died) is delivered again after this many seconds.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
# Publishing while the broker is down fails fast: the caller logs it and the sweep catches up.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_BEAT_SCHEDULE = {
    "flags-refresh-stale": {"task": "reviews.tasks.flags_refresh_stale", "schedule": 300.0},
    "claims-delete-forgotten": {"task": "annotator.tasks.claims_delete_forgotten", "schedule": 3600.0},
}
SUGGEST_BATCH_SIZE = env_int("SUGGEST_BATCH_SIZE", 64)  # faces per forward pass
SUGGEST_TASK_SIZE = env_int("SUGGEST_TASK_SIZE", 256)  # face ids per queued task
SUGGEST_DECODE_THREADS = env_int("SUGGEST_DECODE_THREADS", 4)
# Label order and preprocessing of an ONNX suggester, as JSON (see annotator/inference/onnx_model.py);
# a Suggester row's config overrides it key by key.
SUGGEST_ONNX_CONFIG = json.loads(os.environ.get("SUGGEST_ONNX_CONFIG") or "{}")
SUGGEST_DEVICE = os.environ.get("SUGGEST_DEVICE") or None  # "cpu", "cuda", "cuda:1"; empty: CUDA if present
# Flags: thresholds for annotator vs model and annotator vs annotator.
FLAG_MODEL_MIN_PROBABILITY = env_float("FLAG_MODEL_MIN_PROBABILITY", 0.6)
FLAG_VA_DISTANCE = env_float("FLAG_VA_DISTANCE", 0.5)
FLAG_MODEL_VA_DISTANCE = env_float("FLAG_MODEL_VA_DISTANCE", 0.8)

# Labelling policy.
ANNOTATORS_PER_FACE = env_int("ANNOTATORS_PER_FACE", 1)
OVERLAP_SHARE = env_float("OVERLAP_SHARE", 0.10)  # share of faces that need one more annotator
CLAIM_LEASE_SECONDS = env_int("CLAIM_LEASE_SECONDS", 600)
BLIND_SHARE = env_float("BLIND_SHARE", 0.05)
# The annotation queue: "rare_first" serves faces by the suggestion's rarity, "arrival" by id.
QUEUE_ORDER = os.environ.get("QUEUE_ORDER", "rare_first")
GOLD_SHARE = env_float("GOLD_SHARE", 0.05)  # share of handed-out faces that are gold items
QUEUE_MAX_CLAIMS = env_int("QUEUE_MAX_CLAIMS", 8)  # live claims one annotator may hold (prefetch depth)
UNDO_LIMIT = env_int("UNDO_LIMIT", 20)  # how many of their latest answers an annotator may still change
IMPORT_BATCH_SIZE = env_int("IMPORT_BATCH_SIZE", 500)

# Raw photos (import_images and the upload page).
FACE_DETECTOR = os.environ.get("FACE_DETECTOR", "haar")  # "haar" (OpenCV's cascade) or "dnn" (res10 SSD)
PHOTO_IMPORT_WORKERS = env_int("PHOTO_IMPORT_WORKERS", 0)  # 0: one per core
PHOTO_UPLOAD_MAX_BYTES = env_int("PHOTO_UPLOAD_MAX_BYTES", 200 * 1024 * 1024)  # per uploaded file (zip or photo)
# Per upload request, all files together: a larger Content-Length is refused (413) before the body is read,
# and reading stops once the files pass it (a missing or false Content-Length).
PHOTO_UPLOAD_MAX_REQUEST_BYTES = env_int("PHOTO_UPLOAD_MAX_REQUEST_BYTES", 4 * PHOTO_UPLOAD_MAX_BYTES)
PHOTO_ZIP_MAX_MEMBERS = env_int("PHOTO_ZIP_MAX_MEMBERS", 5000)
PHOTO_ZIP_MAX_MEMBER_BYTES = env_int("PHOTO_ZIP_MAX_MEMBER_BYTES", 50 * 1024 * 1024)
PHOTO_ZIP_MAX_TOTAL_BYTES = env_int("PHOTO_ZIP_MAX_TOTAL_BYTES", 1024 * 1024 * 1024)  # unpacked, all members

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# Learning loop: where train_suggester writes checkpoints, and the active-learning queue order.
CHECKPOINT_DIR = Path(os.environ.get("CHECKPOINT_DIR", VAR_DIR / "checkpoints"))
SUGGESTER_CATEGORIES = env_int("SUGGESTER_CATEGORIES", 8)  # 8 (the seed's 0-7) or 11
QUEUE_ACTIVE_LEARNING = env_bool("QUEUE_ACTIVE_LEARNING", False)  # serve what the active model is unsure of
QUEUE_RARITY_WEIGHT = env_float("QUEUE_RARITY_WEIGHT", 1.0)
QUEUE_UNCERTAINTY_WEIGHT = env_float("QUEUE_UNCERTAINTY_WEIGHT", 1.0)
SUGGEST_ON_ACTIVATE = env_bool("SUGGEST_ON_ACTIVATE", True)  # activating a model queues its suggestions
SUGGEST_TASK_NAME = os.environ.get("SUGGEST_TASK_NAME", "annotator.tasks.suggest_missing")
