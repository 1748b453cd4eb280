"""The one-command demo: database, demo users, demo faces, a worker and the web server."""
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import BaseCommand

from annotator.models import Project, ProjectMembership
from annotator.projects.services import project_policy_update

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
DEMO_USERS = (
    ("admin", ("admin",), True),
    ("reviewer", ("reviewer",), False),
    ("annotator1", ("annotator",), False),
    ("annotator2", ("annotator",), False),
)


class Command(BaseCommand):
    help = "Set up a demo (database, users, bundled faces) and run a Celery worker and the web server."

    def add_arguments(self, parser):
        parser.add_argument("--addrport", default="127.0.0.1:8000", help="where the web server listens")
        parser.add_argument("--no-serve", action="store_true", help="set up only; start no worker or server")

    def handle(self, *args, addrport, no_serve, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write(self.style.SUCCESS("Database ready: ") + str(settings.DATABASES["default"]["NAME"]))
        # The demo faces have no known labels, so no gold faces: annotators start without a calibration
        # round (the dashboard says so) instead of waiting for the lead. A project's policy, not a setting.
        demo = Project.objects.default()
        mode = os.environ.get("CALIBRATION_WITHOUT_GOLD", "skip")
        if demo.calibration_without_gold != mode:
            project_policy_update(project=demo, calibration_without_gold=mode)
        passwords = self.create_demo_users()
        self.data_root_create()
        self.import_demo_faces()
        self.stdout.write("\nDemo users (passwords are new on every quickstart):")
        for username, password in passwords.items():
            self.stdout.write(f"  {username:<12} {password}")
        if no_serve:
            return
        self.serve(addrport)

    def create_demo_users(self) -> dict:
        passwords = {}
        for username, roles, staff in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username)
            password = secrets.token_urlsafe(9)
            user.set_password(password)
            user.is_staff = staff
            user.is_superuser = staff
            user.save()
            user.groups.set(Group.objects.filter(name__in=roles))
            # The demo has one project; a lead adds people to further projects in the admin.
            ProjectMembership.objects.get_or_create(project=Project.objects.default(), user=user)
            passwords[username] = password
        return passwords

    def data_root_create(self):
        """The default data root (VAR_DIR/data), where the console's exports go: a fresh demo has none yet."""
        default_root = Path(settings.VAR_DIR) / "data"
        if any(Path(root) == default_root for root in settings.DATA_ROOTS):
            default_root.mkdir(parents=True, exist_ok=True)

    def import_demo_faces(self):
        self.stdout.write(f"Importing demo faces from {DEMO_DIR} ...")
        call_command("import_affectnet", str(DEMO_DIR), labels="none", stdout=self.stdout, stderr=self.stderr)

    def serve(self, addrport):
        # A local demo over plain HTTP: the HTTPS-only cookies of production would block sign-in.
        env = {**os.environ, "DEBUG": os.environ.get("DEBUG", "1"), "SECURE_HTTPS": "0",
               # The demo faces have no known labels, so no gold faces: annotators start without calibration
               # (the dashboard says so) instead of waiting for the lead. Mark gold faces to try calibration.
               "CALIBRATION_WITHOUT_GOLD": os.environ.get("CALIBRATION_WITHOUT_GOLD", "skip")}
        if not settings.REDIS_URL:
            for folder in ("queue", "control", "processed"):
                (settings.BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
        broker = settings.REDIS_URL or f"filesystem ({settings.BROKER_DIR})"
        worker_cmd = [sys.executable, "-m", "celery", "-A", "annotator", "worker", "--loglevel", "INFO",
                      "-Q", f"{settings.CELERY_MODEL_QUEUE},{settings.CELERY_TASK_DEFAULT_QUEUE},{settings.CELERY_JOBS_QUEUE}",
                      "--concurrency", "1", "--hostname", "quickstart@%h",
                      # -B: the periodic sweeps (stale flags, forgotten claims) run in the demo too.
                      "-B", "--schedule", str(settings.VAR_DIR / "celerybeat-schedule")]
        server_cmd = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "runserver", addrport, "--noreload"]
        children = [
            subprocess.Popen(worker_cmd, env=env, cwd=settings.BASE_DIR, start_new_session=True),
            subprocess.Popen(server_cmd, env=env, cwd=settings.BASE_DIR, start_new_session=True),
        ]
        self.stdout.write(self.style.SUCCESS(f"\nWorker started (broker: {broker})."))
        self.stdout.write("No gold faces in the demo: annotators start without a calibration round. To try it, mark "
                          "gold faces (admin: /admin/reviews/golditem/) and restart an annotator's calibration on "
                          "the dashboard.")
        self.stdout.write(self.style.SUCCESS(f"Open http://{addrport}/ and sign in. Ctrl-C stops both.\n"))
        stop = {"now": False}

        def request_stop(signum, frame):
            stop["now"] = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        try:
            while not stop["now"] and all(child.poll() is None for child in children):
                time.sleep(0.2)
        finally:
            for child in children:
                if child.poll() is None:
                    os.killpg(child.pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()
            self.stdout.write("Stopped the worker and the web server.")
