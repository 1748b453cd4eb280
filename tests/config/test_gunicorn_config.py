"""gunicorn's settings (annotator/config/gunicorn.py) as gunicorn itself reads them, from the environment."""
import os
import subprocess
import sys
from pathlib import Path

from annotator.config.gunicorn import default_workers

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
OURS = ("WEB_", "FORWARDED_ALLOW_IPS", "GUNICORN_CMD_ARGS")


def printed_config(**env) -> dict:
    """gunicorn --print-config with the project's config module: {setting: value as gunicorn prints it}."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    result = subprocess.run([str(GUNICORN), "--config", "python:annotator.config.gunicorn", "--print-config",
                             "annotator.config.wsgi"], cwd=ROOT, env={**base, **env}, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    settings = {}
    for line in result.stdout.splitlines():
        name, sep, value = line.partition(" = ")
        if sep:
            settings[name.strip()] = value.strip()
    return settings


def test_defaults():
    config = printed_config()
    assert config["workers"] == str(default_workers(os.cpu_count() or 1))
    assert config["wsgi_app"] == "annotator.config.wsgi:application"
    assert config["bind"] == "['0.0.0.0:8000']"
    assert config["timeout"] == "120" and config["graceful_timeout"] == "30"
    assert config["accesslog"] == "-" and config["errorlog"] == "-"  # stdout/stderr: the container's log
    assert config["forwarded_allow_ips"] == "['127.0.0.1', '::1']"
    assert config["control_socket_disable"] == "True"  # no per-user socket for two servers to fight over
    assert config["worker_class"] == "sync"


def test_the_environment_sets_workers_timeouts_proxies_and_the_address():
    config = printed_config(WEB_CONCURRENCY="3", WEB_TIMEOUT="77", WEB_GRACEFUL_TIMEOUT="9", WEB_THREADS="4",
                            FORWARDED_ALLOW_IPS="10.0.0.0/8", WEB_BIND="127.0.0.1:9001")
    assert config["workers"] == "3" and config["timeout"] == "77" and config["graceful_timeout"] == "9"
    assert config["threads"] == "4"
    assert config["forwarded_allow_ips"] == "['10.0.0.0/8']"
    assert config["bind"] == "['127.0.0.1:9001']"


def test_the_default_worker_count_is_capped():
    assert default_workers(1) == 3 and default_workers(2) == 5 and default_workers(4) == 9
    assert default_workers(64) == 12
