"""Benchmark the annotation queue on PostgreSQL and the annotate page in Chromium; print a table.

    BENCHMARKS=1 DATABASE_URL=postgres://.../bench_db python manage.py bench_queue --reset

It EMPTIES the face, annotation, claim and suggestion tables of the database it runs on: use a
database made for it. For each size it bulk-inserts faces with SQL (no image files: claims never
read them), then 32 processes (own connections) claim and submit as annotators do, and between
their rounds the same processes run a bare SQL claim (one statement, SKIP LOCKED) as the baseline of what the database
itself costs. With --projects 1,10 each size runs once per project count: the faces dealt round-robin over that
many projects, each annotator a member of one (a million faces in ten projects of 100,000, beside one of 1M).
The browser part serves the page from a live server thread and times Enter -> next
image painted with performance marks inside the page.
"""
import multiprocessing
import random
import secrets
import shutil
import statistics
import tempfile
import time
import uuid

import numpy as np
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from annotator.guidelines.selectors import guideline_version_current
from annotator.guidelines.services import guidelines_mark_read
from annotator.models import Annotation, Project, ProjectMembership, Suggester, Suggestion
from annotator.projects.services import project_create
from annotator.queue import services as queue_services
from tests.drawn_faces import store_drawn_faces

BARE_CLAIM = """
WITH c AS (
    SELECT f.id FROM annotator_face f
    WHERE f.answer_count < f.required_annotations AND f.project_id = %s
      AND NOT EXISTS (SELECT 1 FROM annotator_claim x WHERE x.face_id = f.id)
    ORDER BY f.queue_priority DESC, f.id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
INSERT INTO annotator_claim (face_id, annotator_id, shown_blind, claimed_at, expires_at)
SELECT id, %s, false, now(), now() + interval '10 minutes' FROM c
RETURNING face_id
"""
BARE_DONE = """
WITH gone AS (DELETE FROM annotator_claim WHERE face_id = %s AND annotator_id = %s)
UPDATE annotator_face SET answer_count = answer_count + 1 WHERE id = %s
"""
FILL = """
INSERT INTO annotator_face (project_id, image, content_hash, source, split, required_annotations, answer_count,
                            queue_priority, needs_review, final_source, created_at)
SELECT (%s::bigint[])[1 + i %% %s], 'faces/bench.jpg', md5(i::text) || md5('bench' || i::text), '', 'unassigned',
       CASE WHEN random() < 0.1 THEN 2 ELSE 1 END, 0, round((random() * 3.5)::numeric, 1)::float, false, '', now()
FROM generate_series(1, %s) AS i
"""


def pct(values, q):
    return float(np.percentile(np.asarray(values) * 1000.0, q)) if values else float("nan")


class Command(BaseCommand):
    help = "Time queue claims and submits at two sizes on PostgreSQL, and the annotate page in Chromium."

    def add_arguments(self, parser):
        parser.add_argument("--sizes", default="10000,1000000", help="face counts, comma-separated")
        parser.add_argument("--projects", default="1",
                            help="project counts, comma-separated (1,10: each size in one project, then dealt over ten)")
        parser.add_argument("--annotators", type=int, default=32)
        parser.add_argument("--ops", type=int, default=50, help="claim+submit rounds per annotator per size")
        parser.add_argument(
            "--think-ms", type=float, default=1000.0,
            help="mean pause of an annotator between two rounds (0: back to back, a stress test)",
        )
        parser.add_argument("--browser-faces", type=int, default=60, help="0 skips the browser part")
        parser.add_argument("--reset", action="store_true", help="agree to empty this database's queue tables")

    def handle(self, *args, **opts):
        if connection.vendor != "postgresql":
            raise CommandError("bench_queue needs PostgreSQL: set DATABASE_URL=postgres://.../a_bench_database")
        if not opts["reset"]:
            raise CommandError(
                f"bench_queue empties the faces, answers and claims of database {connection.settings_dict['NAME']!r}; "
                "run it on a database made for it, with --reset"
            )
        sizes = [int(s) for s in opts["sizes"].split(",") if s.strip()]
        self.think_ms = opts["think_ms"]
        project_counts = [int(s) for s in opts["projects"].split(",") if s.strip()]
        users = self._users(opts["annotators"])
        rows = []
        results = {}
        by_projects = {}
        for n_projects in project_counts:
            projects = self._projects(n_projects, users)
            for size in sizes:
                self._fill(size, projects)
                service, bare = self._run(users, opts["ops"], (self._service_round, self._bare_round), opts["think_ms"])
                if n_projects == project_counts[0]:
                    results[size] = (service, bare)
                by_projects[(n_projects, size)] = service
                label = f"{size:,}" if n_projects == 1 else f"{size:,}/{n_projects}p"
                for name, samples in (
                    ("claim (service)", service["claim"]),
                    ("submit (service)", service["submit"]),
                    ("claim + submit", service["total"]),
                    ("bare SQL claim", bare["claim"]),
                    ("bare SQL claim + done", bare["total"]),
                ):
                    rows.append((label, name, len(samples), pct(samples, 50), pct(samples, 99)))
                self.stdout.write(f"  done {size:,} faces in {n_projects} project(s)", ending="\n")
                self.stdout.flush()
        self._table(rows, opts["annotators"])
        if len(project_counts) >= 2:
            one, many = project_counts[0], project_counts[-1]
            for size in sizes:
                a, b = by_projects[(one, size)], by_projects[(many, size)]
                self.stdout.write(
                    f"p50 / p99 claim at {size:,} faces, {many} projects / {one}: "
                    f"{pct(b['claim'], 50) / pct(a['claim'], 50):.2f} / {pct(b['claim'], 99) / pct(a['claim'], 99):.2f}"
                    "  (goal: about 1)")
        if len(sizes) >= 2:
            small, big = sizes[0], sizes[-1]
            service_small, _ = results[small]
            service_big, bare_big = results[big]
            ratio = pct(service_big["total"], 99) / pct(service_small["total"], 99)
            claim_ratio = pct(service_big["claim"], 99) / pct(bare_big["claim"], 99)
            total_ratio = pct(service_big["total"], 99) / pct(bare_big["total"], 99)
            self.stdout.write(f"p99 claim+submit {big:,} / {small:,}: {ratio:.2f}  (goal <= 1.2)")
            self.stdout.write(f"p99 claim / bare SQL claim at {big:,}: {claim_ratio:.2f}  (goal <= 3)")
            self.stdout.write(f"p99 claim+submit / bare SQL claim+done at {big:,}: {total_ratio:.2f}")
        if opts["browser_faces"]:
            self._browser(opts["browser_faces"])

    def _users(self, n):
        group, _ = Group.objects.get_or_create(name="annotator")
        users = []
        for i in range(n):
            user, _ = User.objects.get_or_create(username=f"bench-annotator-{i}")
            user.groups.add(group)
            users.append(user)
        return users

    def _projects(self, n, users) -> list:
        """Return n projects (the default one first, then bench-2 ... bench-n), without blind or gold faces
        (measured by the tests; here only speed counts) and without a calibration round; each annotator is
        a member of one of them, dealt round-robin, and claims there."""
        policy = {"blind_share": 0.0, "gold_share": 0.0, "calibration_faces": 0, "queue_order": "rare_first"}
        projects = [Project.objects.default()]
        for i in range(2, n + 1):
            project = Project.objects.filter(slug=f"bench-{i}").first() or project_create(slug=f"bench-{i}")
            projects.append(project)
        for project in projects:
            Project.objects.filter(pk=project.pk).update(**policy)
        ProjectMembership.objects.filter(user__in=users).delete()
        for i, user in enumerate(users):
            ProjectMembership.objects.create(project=projects[i % n], user=user)
            user.bench_project = Project.objects.get(pk=projects[i % n].pk)
        return projects

    def _fill(self, size, projects):
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE annotator_face RESTART IDENTITY CASCADE")
            cursor.execute("TRUNCATE annotator_historicalannotation")
            cursor.execute("TRUNCATE annotator_annotatorstanding, annotator_historicalannotatorstanding")
            cursor.execute(FILL, [[p.pk for p in projects], len(projects), size])
            cursor.execute("VACUUM ANALYZE annotator_face")
            # Write the bulk insert out now, so a checkpoint does not land inside the measurement.
            try:
                cursor.execute("CHECKPOINT")
            except DatabaseError:  # needs a superuser or pg_checkpoint; the numbers are just noisier without
                self.stdout.write("  (no CHECKPOINT: not allowed for this database user)")
            cursor.execute("ANALYZE annotator_claim")
            cursor.execute("ANALYZE annotator_annotation")
        self.stdout.write(f"  inserted {size:,} faces in {time.perf_counter() - started:.1f} s")
        sql, params = queue_services.lock_candidates_sql(
            annotator_id=User.objects.get(username="bench-annotator-0").pk, project=projects[0], now=timezone.now(),
            limit=1, exclude=[]
        )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = [row[0] for row in cursor.fetchall()]
        scan = next((line.strip() for line in plan if "Index" in line and "face" in line), plan[0].strip())
        self.stdout.write(f"  claim scan plan: {scan}; {plan[-1].strip()}")

    def _run(self, users, ops, round_fns, think_ms):
        """Run one process per annotator (as a web server runs requests in worker processes, so no
        Python lock is shared between them), started together; each alternates the rounds given,
        so all of them meet the same load. Return the pooled samples of each round."""
        ctx = multiprocessing.get_context("fork")
        barrier = ctx.Barrier(len(users))
        results = ctx.Queue()
        connections.close_all()  # children open their own connections

        def work(user):
            mine = [{"claim": [], "submit": [], "total": []} for _ in round_fns]
            error = None
            try:
                # Untimed warm-up: the connection, and Django's first-use costs, are not latency.
                for fn in round_fns:
                    fn(user, {"claim": [], "submit": [], "total": []})
                barrier.wait()
                pace = random.Random(user.pk)
                for _ in range(ops):
                    for fn, out in zip(round_fns, mine):
                        # A person looks at the face before answering; uniform around the mean pace.
                        time.sleep(pace.uniform(0.5, 1.5) * think_ms / 1000.0)
                        fn(user, out)
            except Exception as exc:  # reported by the parent
                error = repr(exc)
            finally:
                connections.close_all()
            results.put((mine, error))

        procs = [ctx.Process(target=work, args=(u,)) for u in users]
        for p in procs:
            p.start()
        pooled = [{"claim": [], "submit": [], "total": []} for _ in round_fns]
        errors = []
        for _ in procs:
            mine, error = results.get(timeout=600)
            if error:
                errors.append(error)
            for into, got in zip(pooled, mine):
                for key, values in got.items():
                    into[key].extend(values)
        for p in procs:
            p.join()
        if errors:
            raise CommandError(f"{len(errors)} annotator processes failed, e.g. {errors[0]}")
        return pooled

    @staticmethod
    def _service_round(user, out):
        t0 = time.perf_counter()
        items = queue_services.queue_claim(annotator=user, project=user.bench_project, count=1)
        t1 = time.perf_counter()
        if not items:
            return
        queue_services.annotation_submit(
            face=items[0].face_id, annotator=user, category=0, valence=0.0, arousal=0.0, client_key=uuid.uuid4()
        )
        t2 = time.perf_counter()
        out["claim"].append(t1 - t0)
        out["submit"].append(t2 - t1)
        out["total"].append(t2 - t0)

    @staticmethod
    def _bare_round(user, out):
        t0 = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(BARE_CLAIM, [user.bench_project.pk, user.pk])
            row = cursor.fetchone()
        t1 = time.perf_counter()
        if row is None:
            return
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(BARE_DONE, [row[0], user.pk, row[0]])
        t2 = time.perf_counter()
        out["claim"].append(t1 - t0)
        out["total"].append(t2 - t0)

    def _table(self, rows, annotators):
        self.stdout.write("")
        self.stdout.write(
            f"Queue latency, {annotators} concurrent annotators pausing {self.think_ms:.0f} ms on average, "
            "PostgreSQL (milliseconds)"
        )
        self.stdout.write(f"{'faces':>14}  {'operation':<22} {'n':>6} {'p50':>8} {'p99':>8}")
        for size, name, n, p50, p99 in rows:
            self.stdout.write(f"{size:>14}  {name:<22} {n:>6} {p50:>8.2f} {p99:>8.2f}")

    def _browser(self, count):
        """Time Enter -> next image painted on the real page, served by a live server thread."""
        from django.contrib.staticfiles.handlers import StaticFilesHandler
        from django.test.testcases import LiveServerThread
        from django.test.utils import override_settings

        media = tempfile.mkdtemp(prefix="bench-media-")
        password = secrets.token_urlsafe(16)
        with override_settings(
            MEDIA_ROOT=media, SECURE_SSL_REDIRECT=False, SESSION_COOKIE_SECURE=False, CSRF_COOKIE_SECURE=False
        ):
            with connection.cursor() as cursor:
                cursor.execute("TRUNCATE annotator_face RESTART IDENTITY CASCADE")
            faces = store_drawn_faces(count)
            suggester, _ = Suggester.objects.get_or_create(name="bench", version="1")
            Suggestion.objects.bulk_create(
                Suggestion(face=f, suggester=suggester, probabilities=[0.0] * 11, category=1, confidence=0.9,
                           valence=0.6, arousal=0.25)
                for f in faces
            )
            user, _ = User.objects.get_or_create(username="bench-browser")
            user.set_password(password)
            user.save()
            user.groups.add(Group.objects.get_or_create(name="annotator")[0])
            ProjectMembership.objects.get_or_create(project=Project.objects.default(), user=user)
            if (version := guideline_version_current()) is not None:
                guidelines_mark_read(user=user, version=version)  # no guidelines overlay before the first face
            server = LiveServerThread("localhost", StaticFilesHandler, port=0)
            server.daemon = True
            server.start()
            server.is_ready.wait()
            if server.error:
                raise server.error
            base = f"http://localhost:{server.port}"
            try:
                times = self._drive_page(base, user.username, password, count)
            finally:
                server.terminate()
                shutil.rmtree(media, ignore_errors=True)
        stored = Annotation.objects.filter(annotator=user).count()
        self.stdout.write("")
        self.stdout.write("Annotate page in Chromium: Enter -> next image painted (milliseconds)")
        self.stdout.write(f"{'n':>6} {'p50':>8} {'p95':>8} {'max':>8}   answers stored")
        self.stdout.write(
            f"{len(times):>6} {statistics.median(times):>8.1f} {float(np.percentile(times, 95)):>8.1f} "
            f"{max(times):>8.1f}   {stored}   (goal p95 <= 50 ms)"
        )

    @staticmethod
    def _drive_page(base, username, password, count):
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
            page.goto(f"{base}/accounts/login/?next=/annotate/")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_selector("#stage img.face")
            for _ in range(count - 1):
                shown = page.get_attribute("#stage", "data-face-id")
                page.wait_for_timeout(150)  # an annotator looks at the face before pressing Enter
                page.keyboard.press("Enter")
                # Functions, not expressions: the page's Content-Security-Policy refuses eval of a string.
                page.wait_for_function(
                    f"() => document.getElementById('stage').dataset.faceId !== '{shown}'", timeout=15000
                )
            page.wait_for_function("() => document.body.dataset.busy === '0'", timeout=15000)
            times = page.evaluate("window.annotatePaintTimes")
            browser.close()
        return times
