"""Time every page and API read of reviewers, annotators and admins at several sizes on PostgreSQL; print a table.

    BENCHMARKS=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench python manage.py bench_reads \
        --faces 10000 100000 1000000

Each size lives in its own database, named after the one DATABASE_URL names plus the size
(bench_reads_10000, ...): made, migrated and filled with SQL on the first run (a million faces take a
few minutes), kept for the next runs (--rebuild makes it again). A size's data: one project of N
faces, 20 annotators (one answer per face, a second on 20%), a suggestion per face from the project's
active model, an open flag on 10% of the faces (100,000 at a million), a flag settled by a reviewer's
decision on 5% more, 5% of the faces in the validation split.

Each read is the whole request through Django's test client (middleware, view, template, JSON), as a
reviewer member of the project, an annotator, or an admin (the admin's pages); the commands
(agreement, evaluate) and the dashboard's recompute run as the command or the ?refresh=1 request does.
The table shows the median (with --stat min, the quickest) of --repeat runs per read in ms, the growth
from the smallest size to the largest, and the goal: at most 200 ms at the largest size for a read
(2 s for a recompute, 30 s for a command or the worker's whole recompute), and at most 1.2x growth for a
page that shows one screen of data.
"""
import io
import statistics
import time
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections
from django.test import Client

SEED_SQL = """
CREATE UNLOGGED TABLE bench_seed AS
SELECT i,
       (ARRAY[0,1,1,1,2,3,4,5,6,7,8,9,10])[1 + floor(random() * 13)::int] AS cat,
       (ARRAY[0,1,1,1,2,3,4,5,6,7,8,9,10])[1 + floor(random() * 13)::int] AS other,
       random() < 0.6 AS same,
       random() * 1.8 - 0.9 AS v, random() * 1.8 - 0.9 AS a,
       random() * 1.8 - 0.9 AS v2, random() * 1.8 - 0.9 AS a2,
       i %% 5 = 0 AS double, i %% 10 = 0 AS flagged, i %% 20 = 5 AS settled,
       CASE WHEN i %% 20 = 1 THEN 'val' ELSE 'train' END AS split,
       floor(random() * 20)::int AS who, 1 + floor(random() * 19)::int AS step,
       now() - random() * interval '30 days' AS at
FROM generate_series(1, %(n)s) AS i
"""

FILL_SQL = [
    """
    INSERT INTO annotator_face (id, project_id, image, content_hash, source, split, required_annotations,
        answer_count, queue_priority, needs_review, is_gold, final_category, final_valence, final_arousal,
        final_source, final_at, created_at)
    SELECT %(base)s + i, %(project)s, 'faces/bench.jpg', md5(i::text) || md5('reads' || i::text), 'bench/' || i || '.jpg',
           split, CASE WHEN double THEN 2 ELSE 1 END, CASE WHEN double THEN 2 ELSE 1 END, 0, flagged, false,
           CASE WHEN flagged THEN NULL ELSE cat END,
           CASE WHEN flagged OR cat > 8 THEN NULL ELSE v END, CASE WHEN flagged OR cat > 8 THEN NULL ELSE a END,
           CASE WHEN flagged THEN '' ELSE 'agreement' END, CASE WHEN flagged THEN NULL ELSE at END, at
    FROM bench_seed
    """,
    """
    INSERT INTO annotator_suggestion (face_id, suggester_id, probabilities, category, confidence, valence, arousal,
                                      created_at)
    SELECT %(base)s + i, %(suggester)s,
           ('[' || array_to_string(ARRAY(SELECT CASE WHEN k = cat THEN '0.8' ELSE '0.02' END
                                         FROM generate_series(0, 10) k), ',') || ']')::jsonb,
           cat, 0.8, CASE WHEN cat > 8 THEN NULL ELSE v END, CASE WHEN cat > 8 THEN NULL ELSE a END, at
    FROM bench_seed
    """,
    """
    INSERT INTO annotator_annotation (face_id, annotator_id, category, valence, arousal, seconds_spent, shown_blind,
        kept_suggestion, outside_region_confirmed, imported, created_at, updated_at)
    SELECT %(base)s + i, (%(users)s::bigint[])[1 + who], cat, CASE WHEN cat > 8 THEN NULL ELSE v END,
           CASE WHEN cat > 8 THEN NULL ELSE a END, 2 + random() * 10, i %% 20 = 3, NOT (i %% 20 = 3) AND random() < 0.6,
           false, false, at, at
    FROM bench_seed
    """,
    """
    INSERT INTO annotator_annotation (face_id, annotator_id, category, valence, arousal, seconds_spent, shown_blind,
        kept_suggestion, outside_region_confirmed, imported, created_at, updated_at)
    SELECT %(base)s + i, (%(users)s::bigint[])[1 + (who + step) %% 20], c2,
           CASE WHEN c2 > 8 THEN NULL ELSE v2 END, CASE WHEN c2 > 8 THEN NULL ELSE a2 END, 2 + random() * 10, false,
           random() < 0.6, false, false, at + interval '1 minute', at + interval '1 minute'
    FROM (SELECT *, CASE WHEN same THEN cat ELSE other END AS c2 FROM bench_seed WHERE double) s
    """,
    """
    INSERT INTO reviews_flag (face_id, reason, key, evidence, severity, status, created_at, closed_at, closed_by_id)
    SELECT %(base)s + i, (ARRAY['annotator_vs_annotator', 'annotator_vs_model', 'outside_region'])[1 + i %% 3],
           'bench', '{"bench": true}'::jsonb, random(), CASE WHEN flagged THEN 'open' ELSE 'resolved' END,
           at, CASE WHEN flagged THEN NULL ELSE at + interval '1 day' END,
           CASE WHEN flagged THEN NULL ELSE %(reviewer)s END
    FROM bench_seed WHERE flagged OR settled
    """,
    """
    INSERT INTO reviews_decision (face_id, reviewer_id, category, valence, arousal, source, decided_at)
    SELECT %(base)s + i, %(reviewer)s, other, CASE WHEN other > 8 THEN NULL ELSE v2 END,
           CASE WHEN other > 8 THEN NULL ELSE a2 END, 'manual', at + interval '1 day'
    FROM bench_seed WHERE settled
    """,
]


def partials_settle():
    """Every project's partials computed and kept, without a time limit, as beat's refresh keeps them: a read
    starts from them, not from what an earlier read (a cold one) left half computed."""
    from annotator.models import Project
    from reviews.aggregates import KINDS, block_partials

    block_partials(Project.objects.order_by("id"), KINDS)


def queue_cursor_before(page: int, scope) -> str:
    """Return the review queue's `after` (URL-quoted) that starts page `page` of QUEUE_PAGE faces, as a
    reviewer following its "next" links gets it; "" for the first page or one past the queue's end."""
    from reviews import selectors

    if page <= 1:
        return ""
    before = selectors.review_queue(scope=scope, offset=(page - 1) * selectors.QUEUE_PAGE - 1, limit=1)["rows"]
    if not before:
        return ""
    flag = selectors._leading_flags(selectors.QueueFilters(), scope).filter(face_id=before[0]["face_id"]).get()
    return quote(selectors.QueueCursor(flag.severity, flag.created_at, flag.id).text())


class Command(BaseCommand):
    help = "Time every page and API read at several sizes (one kept database per size) on PostgreSQL."

    def add_arguments(self, parser):
        parser.add_argument("--faces", type=int, nargs="+", default=[10000, 100000, 1000000])
        parser.add_argument("--repeat", type=int, default=5, help="runs per read; the table shows the median")
        parser.add_argument("--rebuild", action="store_true", help="make the sizes' databases again")
        parser.add_argument("--only", default="", help="run only the reads whose name contains this text")
        parser.add_argument("--stat", choices=["median", "min"], default="median",
                            help="per read, the median of the runs, or the quickest (steadier on a busy machine)")

    def handle(self, *args, **opts):
        if connection.vendor != "postgresql":
            raise CommandError("bench_reads runs on PostgreSQL (DATABASE_URL=postgres://...).")
        self.base_name = connection.settings_dict["NAME"]
        self.stat = opts["stat"]
        sizes = sorted(opts["faces"])
        results = {}
        for n in sizes:
            self._use(n, rebuild=opts["rebuild"])
            results[n] = self._measure(n, opts["repeat"], opts["only"])
        self._use(None)
        self._table(sizes, results)

    # --- databases -------------------------------------------------------------------------------------

    def _db_name(self, n):
        return f"{self.base_name}_reads_{n}"

    def _use(self, n, rebuild=False):
        """Point the default connection at size n's database (made and filled when missing)."""
        name = self.base_name if n is None else self._db_name(n)
        connections["default"].close()
        if n is not None:
            connections["default"].settings_dict["NAME"] = self.base_name
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
                exists = cursor.fetchone() is not None
                if exists and rebuild:
                    cursor.execute(f'DROP DATABASE "{name}"')
                    exists = False
                if not exists:
                    cursor.execute(f'CREATE DATABASE "{name}"')
            connections["default"].close()
        connections["default"].settings_dict["NAME"] = name
        settings.DATABASES["default"]["NAME"] = name
        if n is not None:
            call_command("migrate", verbosity=0)
            from annotator.models import Face

            if not Face.objects.filter(project__slug="reads").exists():
                self._fill(n)

    def _fill(self, n):
        from annotator.models import Project, ProjectMembership, Suggester
        from annotator.projects.services import project_create

        started = time.perf_counter()
        self.stderr.write(f"filling {self._db_name(n)} with {n:,} faces ...")
        users = []
        annotators = Group.objects.get_or_create(name="annotator")[0]
        for i in range(20):
            user = User.objects.get_or_create(username=f"reads-annotator-{i}")[0]
            user.groups.add(annotators)
            users.append(user)
        reviewer = User.objects.get_or_create(username="reads-reviewer")[0]
        reviewer.groups.add(Group.objects.get_or_create(name="reviewer")[0])
        User.objects.filter(username="reads-admin").exists() or User.objects.create_superuser("reads-admin")
        project = project_create(slug="reads", blind_share=0.0, gold_share=0.0, calibration_faces=0)
        suggester = Suggester.objects.get_or_create(name="reads", version="1")[0]
        Project.objects.filter(pk=project.pk).update(active_suggester=suggester)
        for user in [*users, reviewer]:
            ProjectMembership.objects.get_or_create(project=project, user=user)
        params = {"n": n, "project": project.pk, "suggester": suggester.pk, "users": [u.pk for u in users],
                  "reviewer": reviewer.pk}
        with connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(max(id), 0) FROM annotator_face")
            params["base"] = cursor.fetchone()[0]
            cursor.execute("DROP TABLE IF EXISTS bench_seed")
            cursor.execute("SELECT setseed(0.19)")
            cursor.execute(SEED_SQL, params)
            for sql in FILL_SQL:
                cursor.execute(sql, params)
            cursor.execute("DROP TABLE bench_seed")
            cursor.execute("SELECT setval(pg_get_serial_sequence('annotator_face', 'id'), (SELECT max(id) FROM annotator_face))")
        connection.close()
        with connections["default"].cursor() as cursor:  # outside a transaction
            cursor.execute("VACUUM ANALYZE")
        self.stderr.write(f"  filled in {time.perf_counter() - started:.0f} s")

    # --- reads ----------------------------------------------------------------------------------------

    def _reads(self, n):
        """Return [(name, kind, callable[, untimed step before each run])]; kind: 'page' (one screen of
        data), 'read', 'recompute', 'command', 'worker' (a task's work)."""
        from annotator.models import Face
        from reviews.models import Flag

        reviewer = Client()
        reviewer.force_login(User.objects.get(username="reads-reviewer"))
        admin = Client()
        admin.force_login(User.objects.get(username="reads-admin"))
        annotator = Client()
        annotator.force_login(User.objects.get(username="reads-annotator-0"))
        flagged = list(Flag.objects.filter(status="open").order_by("face_id").values_list("face_id", flat=True)[:1])
        face_id = flagged[0]
        deep = max(1, (n // 10) * 8 // 10 // 50)  # the page 80% down the queue
        some_hash = Face.objects.filter(pk=face_id).values_list("content_hash", flat=True).get()

        def get(client, url, expect=(200,), whole=True):
            """A read of url; whole: its figures must be whole, not the last ones with blocks still to compute
            (a recompute that stopped at DASHBOARD_RECOMPUTE_SECONDS would time less than the read asked)."""
            def read():
                response = client.get(url)
                if response.status_code not in expect:
                    raise CommandError(f"{url}: {response.status_code} (expected {expect})")
                if whole and (response.status_code == 202 or b'id="figures-pending"' in response.content):
                    raise CommandError(f"{url}: the recompute stopped at its time limit (blocks left), not a whole one")
                return response
            return read

        # The page 80% down the queue, as its "next" links reach it.
        deep_queue_page = get(reviewer, self._deep_url("/review/", deep))
        deep_queue_api = get(reviewer, self._deep_api_url(deep))

        writer = User.objects.get(username="reads-admin")  # answers no face in the fill: every (face, writer) is new
        from annotator.models import Annotation

        rounds = [Annotation.objects.filter(annotator=writer).count() // 100]  # faces no earlier run answered

        def new_answers():
            """Before a timed run: 100 answers on faces of 4 blocks (25 each, other faces each round), as the
            annotate page writes them (the face's answer count with its answer), each committed."""
            rounds[0] += 1
            with connection.cursor() as cursor:
                cursor.execute("SELECT min(id) FROM annotator_face WHERE project_id = (SELECT id FROM annotator_project"
                               " WHERE slug = 'reads')")
                first = cursor.fetchone()[0]
                for block in (1, 5, 9, 13):
                    lo = first + block * n // 16 + rounds[0] * 25
                    ids = list(range(lo, lo + 25))
                    cursor.execute(
                        "INSERT INTO annotator_annotation (face_id, annotator_id, category, valence, arousal, seconds_spent,"
                        " shown_blind, kept_suggestion, outside_region_confirmed, imported, created_at, updated_at)"
                        " SELECT id, %s, 3, 0.1, 0.2, 4.0, false, false, false, false, now(), now()"
                        " FROM annotator_face WHERE id = ANY(%s)", [writer.pk, ids])
                    cursor.execute("UPDATE annotator_face SET answer_count = answer_count + 1 WHERE id = ANY(%s)", [ids])

        labels_changed = [0]

        def new_val_labels():
            """Before a timed run: 10 val faces given another category, as a reviewer's decision would. The
            first time, the val faces' labels become imported ones (AffectNet's val labels come with the
            release; the fill's rest on answers seen with the suggestion, which the evaluation leaves out), so
            the evaluation holds every val face and a change of its truth is not the bootstrap kept."""
            from annotator.models import FinalSource, Project
            from annotator.training.selectors import evaluation_faces

            project = Project.objects.select_related("active_suggester").get(slug="reads")
            with connection.cursor() as cursor:
                if not labels_changed[0]:  # every block changed: computed again here, untimed, as beat would
                    cursor.execute("UPDATE annotator_face SET final_source = %s WHERE project_id = %s AND split = 'val'"
                                   " AND final_category < 8", [FinalSource.IMPORT, project.pk])
                    partials_settle()
                faces = evaluation_faces(project.active_suggester, "val", list(range(8)), [project]).order_by("id")
                start = labels_changed[0] * 10
                labels_changed[0] += 1
                ids = list(faces.values_list("id", flat=True)[start:start + 10])
                cursor.execute("UPDATE annotator_face SET final_category = (final_category + 1) %% 8 WHERE id = ANY(%s)",
                               [ids])

        def whole_dashboard():
            from annotator.models import Project
            from reviews.dashboard import dashboard_cached

            data = dashboard_cached(project=Project.objects.get(slug="reads"), refresh=True)
            if "pending" in data:
                raise CommandError("the worker's recompute stopped with blocks left")

        out = io.StringIO()
        return [
            ("review queue: first page", "page", get(reviewer, "/review/")),
            ("review queue: deep page", "page", deep_queue_page),
            ("review queue: filtered (reason)", "page", get(reviewer, "/review/?reason=annotator_vs_model")),
            ("review item page", "page", get(reviewer, f"/review/face/{face_id}/")),
            ("dashboard (cached)", "page", get(reviewer, "/review/dashboard/")),
            ("dashboard recompute (?refresh=1)", "recompute", get(reviewer, "/review/dashboard/?refresh=1")),
            # Cold: the request computes DASHBOARD_RECOMPUTE_SECONDS of blocks and shows what is left (at a
            # million faces); the worker's refresh computes every block (no limit).
            ("dashboard recompute, cold (no partials kept)", "recompute",
             get(reviewer, "/review/dashboard/?refresh=1", whole=False), cache.clear),
            ("dashboard figures, cold: the worker's whole recompute", "worker", whole_dashboard, cache.clear),
            ("dashboard recompute after 100 new answers", "recompute", get(reviewer, "/review/dashboard/?refresh=1"),
             new_answers),
            ("dashboard recompute after 10 val labels changed", "recompute",
             get(reviewer, "/review/dashboard/?refresh=1"), new_val_labels),
            ("projects overview (cached)", "page", get(admin, "/review/dashboard/")),
            ("projects overview recompute", "recompute", get(admin, "/review/dashboard/?refresh=1")),
            ("projects overview recompute, cold", "recompute", get(admin, "/review/dashboard/?refresh=1", whole=False),
             cache.clear),
            ("projects overview recompute after 100 new answers", "recompute", get(admin, "/review/dashboard/?refresh=1"),
             new_answers),
            ("feedback page (annotator's own)", "page", get(annotator, "/review/me/")),
            ("feedback page, numbers recomputed (?refresh=1)", "recompute", get(annotator, "/review/me/?refresh=1")),
            ("annotate page", "page", get(annotator, "/annotate/")),
            ("API queue: first page", "page", get(reviewer, "/api/review/queue/")),
            ("API queue: deep page", "page", deep_queue_api),
            ("API review item", "page", get(reviewer, f"/api/review/faces/{face_id}/")),
            ("API face history (admin)", "page", get(admin, f"/api/review/faces/{face_id}/history/")),
            ("API dashboard (cached)", "page", get(reviewer, "/api/review/dashboard/")),
            ("API projects overview (cached)", "page", get(admin, "/api/review/projects/")),
            ("API my answers", "page", get(annotator, "/api/annotations/mine/")),
            ("API agreement", "recompute", get(reviewer, "/api/review/agreement/")),
            ("API agreement, cold", "recompute", get(reviewer, "/api/review/agreement/", expect=(200, 202), whole=False),
             cache.clear),
            ("API agreement after 100 new answers", "recompute", get(reviewer, "/api/review/agreement/"), new_answers),
            ("API evaluation (val)", "recompute", get(reviewer, "/api/review/evaluation/?model=reads:1")),
            ("API evaluation (val) after 10 val labels changed", "recompute",
             get(reviewer, "/api/review/evaluation/?model=reads:1"), new_val_labels),
            ("admin: faces", "page", get(admin, "/admin/annotator/face/")),
            ("admin: faces, filter needs review", "page", get(admin, "/admin/annotator/face/?needs_review__exact=1")),
            ("admin: faces, filter split+category", "page",
             get(admin, "/admin/annotator/face/?split__exact=val&final_category__exact=3")),
            ("admin: faces, search id", "page", get(admin, f"/admin/annotator/face/?q={face_id}")),
            ("admin: faces, search hash", "page", get(admin, f"/admin/annotator/face/?q={some_hash}")),
            ("admin: one face", "page", get(admin, f"/admin/annotator/face/{face_id}/change/")),
            ("admin: annotations", "page", get(admin, "/admin/annotator/annotation/")),
            ("admin: annotations, filter category", "page", get(admin, "/admin/annotator/annotation/?category__exact=3")),
            ("admin: annotations, search face", "page", get(admin, f"/admin/annotator/annotation/?q={face_id}")),
            ("admin: suggestions", "page", get(admin, "/admin/annotator/suggestion/")),
            ("admin: flags", "page", get(admin, "/admin/reviews/flag/")),
            ("admin: flags, filter open", "page", get(admin, "/admin/reviews/flag/?status__exact=open")),
            ("admin: flags, search face", "page", get(admin, f"/admin/reviews/flag/?q={face_id}")),
            ("admin: decisions", "page", get(admin, "/admin/reviews/decision/")),
            ("admin: claims", "page", get(admin, "/admin/annotator/claim/")),
            ("admin: suggesters", "page", get(admin, "/admin/annotator/suggester/")),
            ("admin: projects", "page", get(admin, "/admin/annotator/project/")),
            ("manage.py agreement", "command", lambda: call_command("agreement", "--project", "reads", stdout=out)),
            ("manage.py evaluate", "command", lambda: call_command(
                "evaluate", "--project", "reads", "--model", "reads:1", "--no-queue", stdout=out)),
        ]

    def _deep_cursor(self, page):
        from annotator.models import Project

        return queue_cursor_before(page, {Project.objects.get(slug="reads").pk})

    def _deep_url(self, base, page):
        return f"{base}?after={self._deep_cursor(page)}"

    def _deep_api_url(self, page):
        return f"/api/review/queue/?after={self._deep_cursor(page)}&limit=50"

    def _measure(self, n, repeat, only):
        cache.clear()
        results = {}
        for name, kind, read, *before in self._reads(n):
            if only and only not in name:
                continue
            partials_settle()
            if kind in ("page", "read") or before:
                read()  # warm: the first request imports, fills the cache (the partials kept, for a recompute)
            times = []
            for _ in range(repeat if kind != "command" else max(1, repeat // 2)):
                for step in before:  # untimed: what the read runs after (a cleared cache, new answers)
                    step()
                started = time.perf_counter()
                read()
                times.append(time.perf_counter() - started)
            results[name] = (kind, min(times) if self.stat == "min" else statistics.median(times))
            self.stderr.write(f"  {n:>9,}  {name:<40} {results[name][1] * 1000:9.1f} ms")
        return results

    def _table(self, sizes, results):
        small, large = sizes[0], sizes[-1]
        goals = {"page": (0.2, 1.2), "read": (0.2, None), "recompute": (2.0, None), "command": (30.0, None),
                 "worker": (30.0, None)}
        header = ["read", *[f"{n:,} (ms)" for n in sizes], f"growth {small:,}->{large:,}", "goal", "met"]
        rows = []
        for name, (kind, _) in results[large].items():
            times = [results[n].get(name, (kind, float("nan")))[1] for n in sizes]
            growth = times[-1] / times[0] if times[0] else float("nan")
            limit, growth_goal = goals[kind]
            goal = f"<= {limit * 1000:.0f} ms" + (f", <= {growth_goal}x" if growth_goal and len(sizes) > 1 else "")
            met = times[-1] <= limit and (not growth_goal or len(sizes) == 1 or growth <= growth_goal)
            rows.append([name, *[f"{t * 1000:.1f}" for t in times], f"{growth:.2f}x", goal, "yes" if met else "NO"])
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for r in [header, *rows]:
            self.stdout.write("  ".join(c.ljust(widths[i]) if i in (0, len(r) - 2) else c.rjust(widths[i])
                                        for i, c in enumerate(r)))
