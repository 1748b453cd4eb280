"""BENCHMARKS=1 python manage.py bench_answer_tables --faces 10000 100000 1000000: answers.parquet memory.

For each size N, in a fresh temporary folder with its own SQLite database (or, with --postgres, a
fresh PostgreSQL database on that server, dropped at the end): one process stores N labelled faces
with ANSWERS answers each (rows only: the tables read no image), then another process writes
answers.parquet and faces.parquet exactly as `export_affectnet --answers` does (with DEBUG off, as
in production), and reports its time and peak RSS. Each in its own process, so the peak is the writer's alone and sizes compare.
The table's last line says whether the writer's peak stayed flat from the smallest to the largest N.
"""

import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

ANSWERS = 2
USERS = 50
MEMORY_GOAL = 1.2  # the largest N's peak at most this many times the smallest's


def _rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _postgres_database(server_url: str, name: str, *, drop: bool = False) -> str:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if not drop:
            connection.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url.rsplit('/', 1)[0]}/{name}"


def setup(faces: int) -> None:
    """Store `faces` labelled faces (train and val) with ANSWERS answers each, in batches."""
    from django.contrib.auth.models import User
    from django.db import transaction

    from annotator.models import Annotation, Face, FinalSource

    users = User.objects.bulk_create([User(username=f"bench-{i}") for i in range(USERS)])
    rng = random.Random(0)
    batch = 5000
    for start in range(1, faces + 1, batch):
        ids = range(start, min(start + batch, faces + 1))
        with transaction.atomic():
            rows, answers = [], []
            for i in ids:
                category = rng.randrange(11)
                va = (None, None) if category >= 9 else (rng.uniform(-0.7, 0.7), rng.uniform(-0.7, 0.7))
                rows.append(Face(
                    id=i, image=f"faces/{i:064x}.jpg", content_hash=f"{i:064x}", split="val" if i % 10 == 0 else "train",
                    landmarks=[float(k) for k in range(136)], required_annotations=ANSWERS, answer_count=ANSWERS,
                    final_category=category, final_valence=va[0], final_arousal=va[1], final_source=FinalSource.AGREEMENT,
                ))
                for k in range(ANSWERS):
                    answers.append(Annotation(
                        face_id=i, annotator=users[(i + k) % USERS], category=category, valence=va[0], arousal=va[1],
                        seconds_spent=rng.uniform(1, 20),
                    ))
            Face.objects.bulk_create(rows)
            Annotation.objects.bulk_create(answers)


class Command(BaseCommand):
    help = "Benchmark the answer tables of export_affectnet --answers: time and peak memory per number of faces."

    def add_arguments(self, parser):
        parser.add_argument("--faces", type=int, nargs="+", default=[10000, 100000])
        parser.add_argument("--workdir", help="folder for the temporary databases (default: the system's temp folder)")
        parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to create each size's database on")
        parser.add_argument("--phase", choices=("setup", "write"), help="internal: run one phase in this process")
        parser.add_argument("--dir", help="internal: the size's folder")

    def handle(self, *args, **options):
        if options["phase"]:
            return self._phase(options["phase"], Path(options["dir"]), options["faces"][0])
        results = {faces: self._size(faces, options) for faces in options["faces"]}
        self._table(results)

    def _size(self, faces: int, options) -> dict:
        work = Path(tempfile.mkdtemp(prefix=f"bench-answers-{faces}-", dir=options["workdir"]))
        database_url = f"sqlite:///{work / 'db.sqlite3'}"
        if options["postgres"]:
            database_url = _postgres_database(options["postgres"], f"bench_answers_{os.getpid()}_{faces}")
        try:
            env = {**os.environ, "DATABASE_URL": database_url, "MEDIA_ROOT": str(work / "media"),
                   "DATA_ROOTS": str(work), "VAR_DIR": str(work / "var"), "BENCHMARKS": "1"}
            manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
            subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
            result = {}
            for phase in ("setup", "write"):
                self.stderr.write(f"{faces} faces: {phase} ...")
                command = [*manage, "bench_answer_tables", "--phase", phase, "--dir", str(work), "--faces", str(faces)]
                proc = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
                result = json.loads(proc.stdout.strip().splitlines()[-1])
            return result
        finally:
            shutil.rmtree(work, ignore_errors=True)
            if options["postgres"]:
                _postgres_database(options["postgres"], database_url.rsplit("/", 1)[1], drop=True)

    def _phase(self, phase: str, work: Path, faces: int):
        if phase == "setup":
            setup(faces)
            self.stdout.write(json.dumps({}))
            return
        from annotator.datasets.answer_export import answer_tables_write

        # As in production: with DEBUG on, Django keeps the text of the last 9,000 queries, which
        # grows this process by tens of MiB at a million faces and is no part of the export.
        settings.DEBUG = False
        start_rss = _rss_mib()
        started = time.perf_counter()
        out = work / "tables"
        out.mkdir()
        counts = answer_tables_write(out, splits=["train", "val"], left_out=lambda face: None)
        seconds = time.perf_counter() - started
        peak = _peak_mib()
        self.stdout.write(json.dumps({
            "faces": counts["faces"], "answers": counts["answers"], "seconds": seconds, "peak_mib": peak,
            "growth_mib": peak - start_rss,
            "file_mib": sum(p.stat().st_size for p in out.iterdir()) / 2**20,
        }))

    def _table(self, results: dict):
        w = self.stdout.write
        w("{:>8} | {:>8} | {:>8} | {:>8} | {:>8} | {:>10} | {:>9}".format(
            "faces", "answers", "seconds", "faces/s", "peak MiB", "growth MiB", "files MiB"))
        w("-" * 80)
        for r in results.values():
            w(f"{r['faces']:>8} | {r['answers']:>8} | {r['seconds']:>8.1f} | {r['faces'] / r['seconds']:>8.0f} | "
              f"{r['peak_mib']:>8.1f} | {r['growth_mib']:>10.1f} | {r['file_mib']:>9.1f}")
        if len(results) >= 2:
            small, large = results[min(results)], results[max(results)]
            ratio = large["peak_mib"] / small["peak_mib"]
            w(f"peak memory {max(results)} vs {min(results)} faces: {ratio:.2f}x (goal <= {MEMORY_GOAL}x) "
              f"{'ok' if ratio <= MEMORY_GOAL else 'MISSED'}; growth {small['growth_mib']:.1f} -> "
              f"{large['growth_mib']:.1f} MiB")
