"""The settings as a deployment starts them (real `manage.py` processes, since settings load at import)."""
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(*args, tmp_path, **env):
    """Run manage.py with the project's own settings and only the given variables of ours set."""
    ours = {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG", "SECURE_HTTPS", "DATABASE_URL", "REDIS_URL",
            "DJANGO_ALLOW_ASYNC_UNSAFE"}  # the last one: set for Playwright by the browser tests
    base = {k: v for k, v in os.environ.items() if k not in ours}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**base, "VAR_DIR": str(tmp_path / "var"), **env})


def test_without_a_secret_key_and_debug_off_nothing_starts(tmp_path):
    for command in (["check"], ["migrate", "--plan"], ["runserver", "--noreload", "127.0.0.1:1"]):
        result = manage(*command, tmp_path=tmp_path)
        assert result.returncode != 0, command
        assert "SECRET_KEY is not set" in result.stderr and "DEBUG=1" in result.stderr, result.stderr[-500:]


def test_check_deploy_fails_on_the_development_key(tmp_path):
    result = manage("check", "--deploy", tmp_path=tmp_path, DEBUG="1")
    assert result.returncode != 0
    assert "annotator.E001" in result.stderr and "public development key" in result.stderr


def test_check_deploy_is_clean_with_debug_off_and_a_real_key(tmp_path):
    result = manage("check", "--deploy", tmp_path=tmp_path, SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr
