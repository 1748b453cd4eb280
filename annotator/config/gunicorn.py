"""gunicorn's settings for the production web server, read from the environment.

    gunicorn --config python:annotator.config.gunicorn annotator.config.wsgi

Kept free of Django (gunicorn reads this file in its master process before any worker loads the app).
README "Run in production" lists the variables.
"""
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def default_workers(cores: int, cap: int = 12) -> int:
    """gunicorn's rule of thumb (2 x cores + 1), capped: every worker holds its own Django and database
    connection, and a 64-core box does not need 129 of them for a lab's annotators."""
    return min(2 * max(cores, 1) + 1, cap)


wsgi_app = "annotator.config.wsgi:application"
bind = [os.environ.get("WEB_BIND") or "0.0.0.0:8000"]
workers = _int("WEB_CONCURRENCY", default_workers(os.cpu_count() or 1))
# More than 1 makes gunicorn use its gthread worker (threads per process); 1 keeps the sync worker,
# which suits a proxy that buffers slow clients (nginx does by default).
threads = _int("WEB_THREADS", 1)
# A request running longer than this is killed and its worker replaced. The slowest requests are the
# photo upload page's (the detector runs in the request) and a dashboard recompute at a million faces.
timeout = _int("WEB_TIMEOUT", 120)
# On SIGTERM (a deploy, `docker compose stop`) workers finish the requests they hold for this long.
graceful_timeout = _int("WEB_GRACEFUL_TIMEOUT", 30)
# Seconds an idle keep-alive connection from the proxy stays open (above nginx's upstream keepalive_timeout
# would be wasted; below it costs a reconnect now and then).
keepalive = _int("WEB_KEEPALIVE", 5)
# A worker is replaced after this many requests (plus up to the jitter, so they do not all restart at once):
# bounds slow memory growth. 0: never.
max_requests = _int("WEB_MAX_REQUESTS", 1000)
max_requests_jitter = _int("WEB_MAX_REQUESTS_JITTER", 100)
# Addresses whose X-Forwarded-Proto gunicorn believes (comma-separated, CIDR allowed; "*" inside a private
# network the proxy alone can reach). Django itself reads the scheme and client address only with
# BEHIND_PROXY (SECURE_PROXY_SSL_HEADER, PROXY_COUNT), whatever gunicorn is told here.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS") or "127.0.0.1,::1"
# Logs to stdout/stderr (a container's log, journald): one access line per request, with the address the
# proxy saw in X-Forwarded-For and the time taken in milliseconds.
accesslog = os.environ.get("WEB_ACCESS_LOG") or "-"
errorlog = "-"
loglevel = os.environ.get("WEB_LOG_LEVEL") or "info"
access_log_format = '%(h)s %({x-forwarded-for}i)s %(u)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
# gunicornc's control socket would sit at one path per user ($HOME/.gunicorn/gunicorn.ctl): two servers of
# one user (a second instance, the tests) would fight over it, and nothing here uses it.
control_socket_disable = True
# Workers' heartbeat files: in memory where there is /dev/shm (a container's overlay disk can stall them).
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
