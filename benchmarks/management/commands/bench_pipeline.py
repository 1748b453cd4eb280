"""BENCHMARKS=1 python manage.py bench_pipeline --faces 1000000: the whole path on synthetic faces.

For each size (--faces N runs N/100 and N; --faces 10000,1000000 names them) the command makes a
scratch database (a new PostgreSQL database on DATABASE_URL's server, dropped at the end unless
--keep-db; a SQLite file otherwise) and runs, in one child process with that database, every stage a
lab's data goes through: an AffectNet-layout folder is generated, imported, suggested, answered by
simulated annotators (10% overlap), flagged, reviewed, read through the pages and the API selectors,
measured (agreement, evaluate) and exported. Each stage prints its time, faces/s and peak memory (the
process's RSS high-water, reset before each stage, and the largest worker process's), beside a bare
baseline where one makes sense:

  import   vs  bare-read-1  numpy/PIL reading the same files in one process: the baseline of
               bench_affectnet_io and of the issue's goal (import >= 0.8x it), run before the import and again
               after it (bare-read-1b), both runs together; the note gives the ratio to bare-read too,
               the same reading in as many processes as the import has readers (stricter)
  suggest  vs  bare-forward  the model's forward on the same crops already decoded in memory
  export   vs  bare-write  reading each stored crop and writing the same five files, the same processes
               (each run twice, alternated, the better run of each compared)

Work that would take hours at a million faces through the per-face services (answers, flag checks)
runs through them on a sample and is timed there; the rest is stored in bulk (the same rows, made by
the same rules: `reviews.flagging.desired_flags`, `domain.labels.final_label`) so that the reads see a
database of the full size. The table says which rows are samples.
"""

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from benchmarks.management.commands.bench_affectnet_io import _base_jpegs, _distinct, _WorkerPeak

# Every stage in order. The data stages always run (the others need their rows); the rest run when
# --stages names them (default: all).
DATA_STAGES = ("generate", "import", "suggest", "answers", "flags")
STAGES = (
    "generate", "bare-read", "bare-read-1", "import", "suggest", "answers", "flags", "decisions", "dashboard",
    "queue-first", "queue-deep", "review-item", "admin-faces", "agreement", "evaluate", "export",
    "worker-load",
)
ONE_SCREEN = ("queue-first", "queue-deep", "review-item", "admin-faces")  # pages that show one screen
# x the bare baseline of the same run, judged only against the baseline named here (issue 19's)
GOALS = {"import": (0.8, "bare-read-1"), "export": (0.8, "bare-write")}
LABELLED_SHARE = 0.45  # AffectNet: 450,000 manually labelled faces and 550,000 more
VAL_EVERY = 10  # one face in ten is in val_set
DISTINCT = 256  # distinct pixel crops and annotation sets
TRUTH_SHARES = [0.25, 0.35, 0.10, 0.08, 0.05, 0.04, 0.08, 0.05]  # AffectNet-like, categories 0-7
MODEL_RIGHT = 0.7
ANNOTATOR_RIGHT = 0.85
ANNOTATORS = 32
FILL_CHUNK = 5000
OPEN_FACES = 20000  # unlabelled faces left unanswered (a tenth of them, at most this many)


# --- measuring --------------------------------------------------------------------------------


def _hwm_reset() -> bool:
    """Reset this process's RSS high-water mark (Linux: clear_refs 5); False where that is refused."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _hwm_mib() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


class _Stage:
    """Time a stage and record its peak memory (this process's, and its largest worker's)."""

    def __init__(self):
        self.seconds = 0.0
        self.peak_mib = 0.0
        self.growth_mib = 0.0
        self.worker_mib = 0.0

    def __enter__(self):
        _hwm_reset()
        self._start_mib = _hwm_mib()
        self._workers = _WorkerPeak()
        self._workers.start()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start
        self.worker_mib = self._workers.stop()
        self.peak_mib = _hwm_mib()
        self.growth_mib = self.peak_mib - self._start_mib
        return False


# --- the synthetic folder ---------------------------------------------------------------------


def truth_of(face_ids: np.ndarray) -> np.ndarray:
    """The true category of each face: that of its pixel crop (face id modulo DISTINCT)."""
    return _pool_categories()[np.asarray(face_ids) % DISTINCT]


def _pool_categories() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.choice(len(TRUTH_SHARES), size=DISTINCT, p=TRUTH_SHARES)


def _point(category: int, rng: random.Random):
    """A point near the category's centre, inside the circle (None, None for 8-10 without V/A)."""
    from annotator.domain.categories import has_va
    from annotator.domain.va_regions import REGIONS

    if not has_va(category):
        return None, None
    cv, ca = REGIONS[category]["center"]
    v, a = cv + rng.gauss(0, 0.1), ca + rng.gauss(0, 0.1)
    scale = max(1.0, (v * v + a * a) ** 0.5 / 0.99)
    return round(v / scale, 3), round(a / scale, 3)


def _pool_jpegs() -> list[bytes]:
    """DISTINCT small 224x224 JPEGs (8x8 random blocks, upscaled: ~6 KB, like a smooth face crop)."""
    return _base_jpegs(DISTINCT, grid=8)


def set_generate(root: Path, faces: int, *, first_id: int = 1, labelled_share: float = LABELLED_SHARE) -> dict:
    """Write `faces` faces in AffectNet's layout under root/labelled and root/unlabelled.

    Each image is one of DISTINCT pixel crops made distinct by a JPEG comment (faces are stored by
    content, so copies of one file would be one face); each face's four .npy files are hard links to
    one of DISTINCT annotation sets (the labels of its crop's category), so the set costs one image
    file per face on disk. Faces 1..L (LABELLED_SHARE) are the labelled part, the rest unlabelled.
    """
    from annotator.datasets.formats import affectnet_npy

    jpegs = _pool_jpegs()
    categories = _pool_categories()
    rng = random.Random(3)
    pool = root / ".pool"
    pool.mkdir(parents=True)
    for k in range(DISTINCT):
        category = int(categories[k])
        valence, arousal = _point(category, rng)
        landmarks = np.array([rng.uniform(20, 204) for _ in range(136)])
        affectnet_npy.write_face(str(pool), k, category=category, valence=valence, arousal=arousal, landmarks=landmarks)
    labelled = int(faces * labelled_share)
    folders = {}
    for part in ("labelled", "unlabelled"):
        for split in ("train_set", "val_set"):
            for sub in ("images", "annotations"):
                (root / part / split / sub).mkdir(parents=True)
            folders[part, split] = (str(root / part / split / "images"), str(root / part / split / "annotations"))
    kinds = affectnet_npy.KINDS
    for i in range(first_id, first_id + faces):
        images, annotations = folders["labelled" if i < first_id + labelled else "unlabelled",
                                      "val_set" if i % VAL_EVERY == 0 else "train_set"]
        k = i % DISTINCT
        with open(f"{images}/{i}.jpg", "wb") as handle:
            handle.write(_distinct(jpegs[k], i))
        for kind in kinds:
            os.link(f"{pool}/{k}_{kind}.npy", f"{annotations}/{i}_{kind}.npy")
    return {"labelled": labelled, "jpeg_bytes": int(statistics.mean(len(j) for j in jpegs))}


# --- bare baselines (no app code: what a one-off script does) --------------------------------


def _bare_read_chunk(job) -> int:
    from PIL import Image

    images, annotations, names = job
    for name in names:
        stem = name[:-4]
        with Image.open(os.path.join(images, name)) as image:
            image.load()
        int(np.load(os.path.join(annotations, f"{stem}_exp.npy"), allow_pickle=False))
        float(np.load(os.path.join(annotations, f"{stem}_val.npy"), allow_pickle=False))
        float(np.load(os.path.join(annotations, f"{stem}_aro.npy"), allow_pickle=False))
        assert np.load(os.path.join(annotations, f"{stem}_lnd.npy"), allow_pickle=False).shape == (136,)
    return len(names)


def _bare_jobs(root: Path):
    for images in sorted(root.glob("*/*_set/images")):
        annotations = str(images.parent / "annotations")
        with os.scandir(images) as entries:
            names = [e.name for e in entries]
        for start in range(0, len(names), 64):
            yield str(images), annotations, names[start:start + 64]


def bare_read(root: Path, processes: int) -> int:
    """Read every face as a training script does (decode the JPEG, load four .npy), in `processes`."""
    if processes <= 1:
        return sum(_bare_read_chunk(job) for job in _bare_jobs(root))
    with get_context("forkserver").Pool(processes) as pool:
        return sum(pool.imap_unordered(_bare_read_chunk, _bare_jobs(root), chunksize=4))


def _bare_write_chunk(job) -> int:
    out, media_files, first = job
    rng = np.random.default_rng(first)
    for offset, path in enumerate(media_files):
        face_id = first + offset
        with open(path, "rb") as handle:
            data = handle.read()
        with open(os.path.join(out, "images", f"{face_id}.jpg"), "wb") as handle:
            handle.write(data)
        annotations = os.path.join(out, "annotations")
        np.save(os.path.join(annotations, f"{face_id}_exp.npy"), np.array(str(face_id % 8)))
        np.save(os.path.join(annotations, f"{face_id}_val.npy"), np.array("0.25"))
        np.save(os.path.join(annotations, f"{face_id}_aro.npy"), np.array("-0.5"))
        np.save(os.path.join(annotations, f"{face_id}_lnd.npy"), rng.uniform(0, 224, 136))
    return len(media_files)


def bare_write(media: Path, out: Path, faces: int, processes: int) -> int:
    """Copy `faces` stored crops and write four .npy beside each (AffectNet's files), in `processes`."""
    for sub in ("images", "annotations"):
        (out / sub).mkdir(parents=True)

    def jobs():
        done = 0
        for folder in sorted((media / "faces").iterdir()):
            with os.scandir(folder) as entries:
                files = [e.path for e in entries][: faces - done]
            for start in range(0, len(files), 64):
                yield str(out), files[start:start + 64], done + start + 1
            done += len(files)
            if done >= faces:
                return

    if processes <= 1:
        return sum(_bare_write_chunk(job) for job in jobs())
    with get_context("forkserver").Pool(processes) as pool:
        return sum(pool.imap_unordered(_bare_write_chunk, jobs(), chunksize=4))


# --- scratch databases ------------------------------------------------------------------------


def _postgres_admin(sql: str) -> None:
    import psycopg

    db = settings.DATABASES["default"]
    with psycopg.connect(dbname=db["NAME"], user=db["USER"] or None, password=db["PASSWORD"] or None,
                         host=db["HOST"] or None, port=db["PORT"] or None, autocommit=True) as connection:
        connection.execute(sql)


def _scratch_database(name: str, work: Path) -> str:
    """Create the scratch database; return its URL (a PostgreSQL one on DATABASE_URL's server, else SQLite)."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("postgresql"):
        _postgres_admin(f'DROP DATABASE IF EXISTS "{name}"')
        _postgres_admin(f'CREATE DATABASE "{name}"')
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"
    return f"sqlite:///{work / 'db.sqlite3'}"


# --- the command ------------------------------------------------------------------------------


class Command(BaseCommand):
    help = "Run the whole path (import .. export) on N synthetic faces; print each stage's time, faces/s, memory."

    def add_arguments(self, parser):
        parser.add_argument("--faces", default="10000",
                            help="N (runs N/100 and N), or sizes separated by commas: 10000,1000000 (one size: N,)")
        parser.add_argument("--stages", help=f"comma-separated, of {', '.join(STAGES)} (default: all; "
                                             f"{', '.join(DATA_STAGES)} always run)")
        parser.add_argument("--device", default="cpu", help="suggest on cpu or cuda (bf16 autocast there)")
        parser.add_argument("--batch-size", type=int, help="faces per forward pass (default SUGGEST_BATCH_SIZE; "
                                                           "256-1024 on a GPU)")
        parser.add_argument("--suggest-sample", type=int, default=512,
                            help="faces the model suggests for (the rest get synthetic suggestions in bulk)")
        parser.add_argument("--sample", type=int, default=300,
                            help="answers, flag checks and decisions made through the services")
        parser.add_argument("--workers", type=int, help="import reader / export writer processes (and the bare "
                                                        "baselines'); default one per CPU")
        parser.add_argument("--workdir", help="folder for the synthetic sets (default: the system's temp folder)")
        parser.add_argument("--keep-db", action="store_true", help="keep the scratch database and its folder")
        parser.add_argument("--redis", help="a Redis URL for worker-load (a real worker, 32 annotators and an "
                                            "import at once; PostgreSQL only); default REDIS_URL_FOR_TESTS")
        parser.add_argument("--load-seconds", type=float, default=60, help="how long worker-load's annotators answer")
        parser.add_argument("--results", help="internal: the child's results file")

    def handle(self, *args, **options):
        stages = STAGES if not options["stages"] else tuple(s.strip() for s in options["stages"].split(","))
        unknown = set(stages) - set(STAGES)
        if unknown:
            raise CommandError(f"--stages: unknown {', '.join(sorted(unknown))} (choose from {', '.join(STAGES)})")
        stages = tuple(s for s in STAGES if s in stages or s in DATA_STAGES)
        sizes = [int(s) for s in str(options["faces"]).split(",") if s.strip()]
        if "," not in str(options["faces"]) and sizes[0] // 100 >= 100 and not options["results"]:
            sizes = [sizes[0] // 100, sizes[0]]
        if options["results"]:  # the child: one size, the scratch database already in DATABASE_URL
            return _Run(self, sizes[0], stages, options).run()
        workers = options["workers"] or os.cpu_count() or 1
        self.stdout.write(f"bench_pipeline: sizes {', '.join(map(str, sizes))}; database "
                          f"{settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}; {os.cpu_count()} CPUs, "
                          f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}; "
                          f"{workers} reader/writer processes; suggest on {options['device']}")
        results = {}
        for size in sizes:
            results[size] = self._size(size, stages, workers, options)
            self._table(size, results[size])
        if len(sizes) >= 2:
            self._growth(sizes, results)

    def _size(self, size: int, stages, workers: int, options) -> list:
        work = Path(tempfile.mkdtemp(prefix=f"bench-pipeline-{size}-", dir=options["workdir"]))
        name = f"{settings.DATABASES['default']['NAME']}_bench_pipeline_{size}"[-63:] if \
            settings.DATABASES["default"]["ENGINE"].endswith("postgresql") else ""
        database_url = _scratch_database(name, work)
        results_file = work / "results.jsonl"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "MEDIA_ROOT": str(work / "media"),
            "DATA_ROOTS": str(work),
            "VAR_DIR": str(work / "var"),
            "BENCHMARKS": "1",
            "DEBUG": "1",
            "SUGGEST_DEVICE": options["device"],
        }
        env.pop("REDIS_URL", None)  # the stages' tasks go to the scratch folder's broker; worker-load brings its own
        command = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "bench_pipeline", "--faces", str(size),
                   "--stages", ",".join(stages), "--results", str(results_file), "--workers", str(workers),
                   "--device", options["device"], "--suggest-sample", str(options["suggest_sample"]),
                   "--sample", str(options["sample"]), "--load-seconds", str(options["load_seconds"])]
        for flag in ("batch_size", "redis"):
            if options[flag]:
                command += [f"--{flag.replace('_', '-')}", str(options[flag])]
        try:
            subprocess.run([sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "migrate", "-v0"],
                           env=env, check=True)
            proc = subprocess.run(command, env=env)
            rows = [json.loads(line) for line in results_file.read_text().splitlines()] if results_file.exists() else []
            if proc.returncode:
                self.stderr.write(f"{size} faces: the run stopped (exit {proc.returncode}); the table has the stages "
                                  f"that finished")
        finally:
            if options["keep_db"]:
                self.stderr.write(f"kept: database {database_url}, folder {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)
                if name:
                    _postgres_admin(f'DROP DATABASE IF EXISTS "{name}"')
        return rows

    def _table(self, size: int, rows: list) -> None:
        w = self.stdout.write
        w("")
        w(f"{size} faces")
        head = ("stage", "seconds", "faces/s", "peak MiB", "growth", "worker MiB", "baseline", "base s", "base f/s",
                "ratio")
        w("{:<13} {:>9} {:>9} {:>9} {:>7} {:>10} | {:<13} {:>8} {:>9} {:>7}  note".format(*head))
        w("-" * 132)
        for r in rows:
            rate = f"{r['faces'] / r['seconds']:.0f}" if r.get("faces") and r["seconds"] > 0 else "-"
            base = r.get("baseline") or {}
            ratio, base_rate = "", ""
            if base:
                base_rate = f"{base['faces'] / base['seconds']:.0f}"
                value = (r["faces"] / r["seconds"]) / (base["faces"] / base["seconds"])
                goal, goal_base = GOALS.get(r["stage"], (None, None))
                judged = goal is not None and base.get("name") == goal_base
                ratio = f"{value:.2f}x" + (f" (goal >= {goal}x {'ok' if value >= goal else 'MISSED'})" if judged else "")
            w(f"{r['stage']:<13} {r['seconds']:>9.3f} {rate:>9} {r['peak_mib']:>9.1f} {r['growth_mib']:>7.1f} {r['worker_mib'] or 0:>10.1f} | "
              f"{base.get('name', ''):<13} {base.get('seconds', 0) or 0:>8.2f} {base_rate:>9} {ratio:>7}  "
              f"{r.get('note', '')}")

    def _growth(self, sizes: list, results: dict) -> None:
        small, large = min(sizes), max(sizes)
        w = self.stdout.write
        w("")
        w(f"growth from {small} to {large} faces (x{large / small:.0f} data): seconds and peak memory, large / small")
        w(f"{'stage':<13} {'s small':>9} {'s large':>9} {'time x':>8} {'MiB x':>7}  note")
        by_small = {r["stage"]: r for r in results[small]}
        for r in results[large]:
            s = by_small.get(r["stage"])
            if s is None or not s["seconds"]:
                continue
            note = "one screen: goal <= 1.2x" if r["stage"] in ONE_SCREEN else ""
            if r["stage"] in ONE_SCREEN:
                note += " ok" if r["seconds"] / s["seconds"] <= 1.2 else " MISSED"
            w(f"{r['stage']:<13} {s['seconds']:>9.3f} {r['seconds']:>9.3f} {r['seconds'] / s['seconds']:>8.2f} "
              f"{r['peak_mib'] / s['peak_mib']:>7.2f}  {note}")


class _Run:
    """One size, in the child process: every stage in turn on the scratch database."""

    def __init__(self, command, faces: int, stages, options):
        self.command, self.faces, self.stages, self.options = command, faces, stages, options
        self.results_file = Path(options["results"])
        self.work = self.results_file.parent
        self.source = self.work / "source"
        self.workers = options["workers"]
        self.rng = random.Random(11)

    def log(self, text: str) -> None:
        self.command.stderr.write(f"[{time.strftime('%H:%M:%S')}] {self.faces} faces: {text}")
        self.command.stderr.flush()

    def record(self, stage: str, measured: _Stage, *, faces=None, baseline=None, note="") -> None:
        row = {"stage": stage, "seconds": measured.seconds, "faces": faces, "peak_mib": measured.peak_mib,
               "growth_mib": measured.growth_mib, "worker_mib": measured.worker_mib, "baseline": baseline, "note": note}
        with open(self.results_file, "a") as handle:
            handle.write(json.dumps(row) + "\n")
        rate = f", {faces / measured.seconds:.0f} faces/s" if faces and measured.seconds else ""
        self.log(f"{stage}: {measured.seconds:.2f} s{rate}, peak {measured.peak_mib:.0f} MiB {note}")

    def run(self):
        from annotator.models import Project

        Project.objects.filter(pk=Project.objects.default().pk).update(calibration_faces=0)
        for stage in self.stages:
            self.log(f"{stage} ...")
            getattr(self, "stage_" + stage.replace("-", "_"))()

    # -- data stages --

    def stage_generate(self):
        with _Stage() as m:
            made = set_generate(self.source, self.faces)
        self.labelled = made["labelled"]
        self.record("generate", m, faces=self.faces, note=(
            f"{DISTINCT} distinct 224x224 JPEGs (~{made['jpeg_bytes']} B) made distinct per face by a JPEG comment, "
            f"written once each; the four .npy hard-linked from {DISTINCT} annotation sets; "
            f"{made['labelled']} labelled, the rest unlabelled; 1 in {VAL_EVERY} in val_set"))

    def stage_bare_read(self):
        with _Stage() as m:
            read = bare_read(self.source, self.workers)
        self.bare_read_result = {"name": "bare-read", "seconds": m.seconds, "faces": read,
                                 "peak_mib": m.peak_mib, "worker_mib": m.worker_mib}
        self.record("bare-read", m, faces=read, note=f"PIL decode + 4 np.load a face, {self.workers} processes")

    def stage_bare_read_1(self):
        with _Stage() as m:
            read = bare_read(self.source, 1)
        self.bare_read_1 = {"name": "bare-read-1", "seconds": m.seconds, "faces": read}
        self.record("bare-read-1", m, faces=read, note="the same in one process")

    def stage_import(self):
        from annotator.datasets.importing import affectnet_folder_import

        os.sync()  # the generated files' writes are not the import's to pay
        with _Stage() as m:
            reports = [affectnet_folder_import(path=self.source / "labelled", labels=True, progress=False,
                                               workers=self.workers),
                       affectnet_folder_import(path=self.source / "unlabelled", labels=False, progress=False,
                                               workers=self.workers)]
        imported = sum(r.imported for r in reports)
        if imported != self.faces or any(r.skipped for r in reports):
            raise CommandError(f"import went wrong: {[line for r in reports for line in r.lines()[:3]]}")
        one, same = getattr(self, "bare_read_1", None), getattr(self, "bare_read_result", None)
        if one:
            # The one-process reading again, right after the import: on a machine others share, one run of
            # it before the import may fall in a quiet spell or a busy one. The baseline is both runs together.
            os.sync()
            with _Stage() as again:
                read = bare_read(self.source, 1)
            self.record("bare-read-1b", again, faces=read, note="bare-read-1 again, right after the import")
            one = {"name": "bare-read-1", "seconds": one["seconds"] + again.seconds, "faces": one["faces"] + read}
        # Judged against one process reading (the baseline; its runs before and after the import
        # together); beside it, the same reading in as many processes as the import's readers.
        versus_same = (f"; {(imported / m.seconds) / (same['faces'] / same['seconds']):.2f}x bare-read "
                       f"({self.workers} processes)" if same and one else "")
        if one:
            versus_same += "; baseline: bare-read-1's runs before and after, together"
        self.record("import", m, faces=imported, baseline=one or same,
                    note=f"labelled part with labels (answers + final labels), the rest without; {self.workers} "
                         f"readers{versus_same}")
        shutil.rmtree(self.source, ignore_errors=True)  # disk: the crops are in MEDIA_ROOT now
        self._analyze()

    def _analyze(self):
        from django.db import connection

        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # what autovacuum does after a big write
                cursor.execute("ANALYZE")

    def stage_suggest(self):
        from annotator.models import Face, Project
        from annotator.suggestions.services import (
            crop_load,
            suggester_active_get_or_create,
            suggester_model,
            suggestions_compute,
        )

        project = Project.objects.default()
        self.suggester = suggester_active_get_or_create(project)
        model = suggester_model(self.suggester)
        batch_size = self.options["batch_size"] or settings.SUGGEST_BATCH_SIZE
        step = max(1, self.faces // self.options["suggest_sample"])
        ids = list(Face.objects.order_by("id").values_list("id", flat=True)[::step][: self.options["suggest_sample"]])
        rows = list(Face.objects.filter(id__in=ids).order_by("id").only("id", "image"))
        batches = [np.stack([crop_load(f.image.name) for f in rows[i:i + batch_size]])
                   for i in range(0, len(rows), batch_size)]
        model.predict(batches[0])  # warm-up: kernels, allocator
        sync = _device_sync(model)
        with _Stage() as bare:
            for batch in batches:
                model.predict(batch)
            sync()
        del batches
        with _Stage() as m:
            stored = suggestions_compute(face_ids=ids, suggester=self.suggester, model=model, batch_size=batch_size)
            sync()
        device = str(getattr(model, "device", self.options["device"]))
        precision = "bf16 autocast" if device.startswith("cuda") else "fp32"
        self.record("suggest", m, faces=len(stored),
                    baseline={"name": "bare-forward", "seconds": bare.seconds, "faces": len(rows)},
                    note=f"a sample of {len(rows)} faces (1 in {step}), batch {batch_size}, {device} {precision}; "
                         f"load+decode+forward+store")
        with _Stage() as bulk:
            count = self._suggestions_bulk()
        self.record("suggest-bulk", bulk, faces=count, note="synthetic suggestions for the other faces (rows only, "
                                                          f"model right {MODEL_RIGHT:.0%})")

    def _suggestions_bulk(self) -> int:
        from django.db.models import Exists, OuterRef

        from annotator.domain.categories import rarity_priority
        from annotator.models import Face, Suggestion

        has = Suggestion.objects.filter(face=OuterRef("pk"), suggester=self.suggester)
        missing = Face.objects.filter(~Exists(has)).order_by("id").values_list("id", flat=True)
        count = 0
        for chunk in _chunks(missing.iterator(chunk_size=FILL_CHUNK), FILL_CHUNK):
            truth = truth_of(np.array(chunk))
            rows = []
            for face_id, true in zip(chunk, truth):
                said = int(true) if self.rng.random() < MODEL_RIGHT else self.rng.choice(
                    [c for c in range(8) if c != true])
                confidence = round(self.rng.uniform(0.4, 0.95), 6)
                probabilities = [round((1 - confidence) / 10, 6)] * 11
                probabilities[said] = confidence
                valence, arousal = _point(said, self.rng)
                rows.append(Suggestion(face_id=face_id, suggester=self.suggester, probabilities=probabilities,
                                       category=said, confidence=confidence, valence=valence, arousal=arousal))
            Suggestion.objects.bulk_create(rows)
            by_category = {}
            for row in rows:
                by_category.setdefault(row.category, []).append(row.face_id)
            for category, face_ids in by_category.items():
                Face.objects.filter(id__in=face_ids).update(queue_priority=rarity_priority(category))
            count += len(rows)
        return count

    def _annotators(self):
        from django.contrib.auth.models import Group, User

        from annotator.models import Project, ProjectMembership

        group = Group.objects.get_or_create(name="annotator")[0]
        project = Project.objects.default()
        users = []
        for i in range(ANNOTATORS):
            user, _ = User.objects.get_or_create(username=f"sim-annotator-{i}")
            user.groups.add(group)
            ProjectMembership.objects.get_or_create(project=project, user=user)
            users.append(user)
        return users

    def stage_answers(self):
        """Simulated annotators answer through the queue and answer services (a sample), the rest in bulk."""
        self.users = self._annotators()
        with _Stage() as m:
            answered = self._answer_through_queue(self.options["sample"])
        self.record("answers", m, faces=answered,
                    note=f"a sample: {answered} answers of {ANNOTATORS} simulated annotators through claim + submit")
        with _Stage() as bulk:
            count = self._answers_bulk()
        self.record("answers-bulk", bulk, faces=count, note="synthetic answers for the other unlabelled faces "
                                                           "(each face's required answers, 10% overlap; the newest "
                                                           f"tenth, at most {OPEN_FACES}, left for the queue)")

    def _answer_through_queue(self, target: int) -> int:
        """The simulated annotators claim and answer up to `target` faces, as the annotate page does; return
        how many they answered."""
        from annotator.queue.services import annotation_submit, queue_claim

        answered = idle = 0
        while answered < target and idle < len(self.users):
            user = self.users[answered % len(self.users)]
            items = queue_claim(annotator=user, count=8)
            idle = idle + 1 if not items else 0
            for item in items:
                shown = item.suggestion
                if shown is not None and self.rng.random() < 0.3:  # kept the suggestion
                    category, valence, arousal = shown.category, shown.valence, shown.arousal
                else:
                    category = int(truth_of(np.array([item.face_id]))[0])
                    if self.rng.random() > ANNOTATOR_RIGHT:
                        category = self.rng.choice([c for c in range(8) if c != category])
                    valence, arousal = _point(category, self.rng)
                annotation_submit(face=item.face_id, annotator=user, category=category, valence=valence,
                                  arousal=arousal, client_key=uuid.uuid4(), seconds_spent=3.0,
                                  suggestion_id=None if shown is None else shown.id, outside_region_confirmed=True)
                answered += 1
        return answered

    def _answers_bulk(self) -> int:
        from annotator.models import Annotation, Face

        faces = Face.objects.filter(answer_count=0, final_source="").order_by("id")
        # The newest unlabelled faces stay open: the queue has work for worker-load's annotators.
        open_faces = min(OPEN_FACES, faces.count() // 10)
        if open_faces:
            last = list(faces.order_by("-id").values_list("id", flat=True)[open_faces:open_faces + 1])
            faces = faces.filter(id__lte=last[0]) if last else faces.none()
        faces = faces.values_list("id", "required_annotations")
        count = 0
        for chunk in _chunks(faces.iterator(chunk_size=FILL_CHUNK), FILL_CHUNK):
            truth = truth_of(np.array([face_id for face_id, _ in chunk]))
            rows = []
            for (face_id, required), true in zip(chunk, truth):
                for user in self.rng.sample(self.users, required):
                    category = int(true) if self.rng.random() < ANNOTATOR_RIGHT else self.rng.choice(
                        [c for c in range(8) if c != true])
                    valence, arousal = _point(category, self.rng)
                    rows.append(Annotation(face_id=face_id, annotator=user, category=category, valence=valence,
                                           arousal=arousal, seconds_spent=round(self.rng.uniform(2, 12), 2),
                                           outside_region_confirmed=True))
            Annotation.objects.bulk_create(rows)
            count += len(rows)
        # Each face's answer count in one statement (a correlated count; both databases plan it by index).
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE annotator_face SET answer_count = (SELECT COUNT(*) FROM annotator_annotation a "
                "WHERE a.face_id = annotator_face.id) WHERE answer_count = 0 AND final_source = ''")
        return count

    def stage_flags(self):
        """The worker's flag check on a sample of answered faces; the rest by the same rule, in bulk."""
        from annotator.models import Face
        from reviews.flagging import faces_flags_evaluate
        from reviews.models import FlagCheck, FlagPending

        checked = set(FlagCheck.objects.values_list("face_id", flat=True))
        step = max(1, self.faces // self.options["sample"])
        sample = [i for i in Face.objects.filter(answer_count__gt=0).order_by("id").values_list("id", flat=True)[::step]
                  if i not in checked][: self.options["sample"]]
        with _Stage() as m:
            done = faces_flags_evaluate(sample)
        self.record("flags", m, faces=done, note=f"a sample: {done} faces through reviews.flagging (the worker's task)")
        with _Stage() as bulk:
            count, flagged = self._flags_bulk()
        self.record("flags-bulk", bulk, faces=count,
                    note=f"the same rule for the other answered faces in bulk; {flagged} faces with open flags")
        # Every answered face is checked now: what a drain would have taken from the pending checks the
        # answers stage left (worker-load counts only its own).
        FlagPending.objects.all().delete()
        self._vacuum()
        self._analyze()

    def _flags_bulk(self) -> tuple[int, int]:
        from django.db import connection
        from django.db.models import Exists, OuterRef
        from django.utils import timezone

        from annotator.domain.labels import Label, final_label
        from annotator.models import DECIDED_SOURCES, Annotation, Face, FinalSource, Suggestion
        from reviews.flagging import desired_flags
        from reviews.models import Flag, FlagCheck

        checked = FlagCheck.objects.filter(face=OuterRef("pk"))
        faces = (Face.objects.filter(~Exists(checked), answer_count__gt=0).order_by("id")
                 .values_list("id", "required_annotations", "final_source"))
        count = 0
        now = timezone.now()
        for chunk in _chunks(faces.iterator(chunk_size=FILL_CHUNK), FILL_CHUNK):
            ids = [face_id for face_id, _, _ in chunk]
            answers = {}
            for a in Annotation.objects.filter(face_id__in=ids):
                answers.setdefault(a.face_id, []).append(a)
            suggestions = {s.face_id: s for s in Suggestion.objects.filter(face_id__in=ids, suggester=self.suggester)}
            flags, updates = [], []
            for face_id, required, source in chunk:
                wanted = desired_flags(annotations=answers.get(face_id, []), suggestion=suggestions.get(face_id),
                                       gold=None)
                flags += [Flag(face_id=face_id, reason=reason, key=key, evidence=evidence, severity=severity)
                          for (reason, key), (evidence, severity) in wanted.items()]
                if source in DECIDED_SOURCES:
                    updates.append((bool(wanted), face_id))
                    continue
                labels = [Label(a.category, a.valence, a.arousal) for a in answers.get(face_id, [])]
                label = final_label(decision=None, answers=labels, required=required, has_open_flag=bool(wanted))
                final = (FinalSource.SINGLE if len(labels) == 1 else FinalSource.AGREEMENT) if label else FinalSource.NONE
                updates.append((bool(wanted), label and label.category, label and label.valence,
                                label and label.arousal, final, now if label else None, face_id))
            Flag.objects.bulk_create(flags)
            FlagCheck.objects.bulk_create([FlagCheck(face_id=face_id, checked_at=now) for face_id in ids])
            with connection.cursor() as cursor:
                decided = [u for u in updates if len(u) == 2]
                if decided:
                    cursor.executemany("UPDATE annotator_face SET needs_review = %s WHERE id = %s", decided)
                other = [u for u in updates if len(u) > 2]
                if other:
                    cursor.executemany(
                        "UPDATE annotator_face SET needs_review = %s, final_category = %s, final_valence = %s, "
                        "final_arousal = %s, final_source = %s, final_at = %s WHERE id = %s", other)
            count += len(chunk)
        return count, Face.objects.filter(needs_review=True).count()

    def _vacuum(self) -> None:
        """On PostgreSQL, VACUUM ANALYZE after the bulk stages, as autovacuum would within minutes of them:
        the reads are timed against the planner's statistics and visibility map of a settled database,
        not of tables loaded a moment ago (index-only scans need the map)."""
        from django.db import connection

        if connection.vendor != "postgresql":
            return
        with _Stage() as m:
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        self.record("vacuum", m, note="VACUUM ANALYZE after the bulk stages (autovacuum's work, done at once)")

    # -- the optional stages --

    def _reviewer(self):
        from django.contrib.auth.models import Group, User

        from annotator.models import Project, ProjectMembership

        if not hasattr(self, "reviewer"):
            self.reviewer, _ = User.objects.get_or_create(username="sim-reviewer")
            self.reviewer.groups.add(Group.objects.get_or_create(name="reviewer")[0])
            ProjectMembership.objects.get_or_create(project=Project.objects.default(), user=self.reviewer)
            self.admin = User.objects.create_superuser("sim-admin", password=None)
            self.admin.groups.add(Group.objects.get_or_create(name="admin")[0])
        return self.reviewer

    def stage_decisions(self):
        from annotator.models import Annotation, Face
        from reviews.services import decision_make

        reviewer = self._reviewer()
        step = max(1, self.faces // self.options["sample"])
        ids = list(Face.objects.filter(needs_review=True).order_by("id").values_list("id", flat=True)[::step * 10]
                   [: self.options["sample"]])
        with _Stage() as m:
            for face_id in ids:
                answer = Annotation.objects.filter(face_id=face_id).order_by("id").first()
                decision_make(face=Face.objects.get(pk=face_id), reviewer=reviewer, category=answer.category,
                              valence=answer.valence, arousal=answer.arousal, source="annotation", annotation=answer)
        self.record("decisions", m, faces=len(ids), note=f"{len(ids)} flagged faces decided through decision_make "
                                                         f"(the rest stay open for the reads)")

    def _client(self, user):
        from django.test import Client

        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
        return client

    def _page(self, stage: str, user, url: str, note: str = "", repeats: int = 3) -> None:
        """Time a page: one request to warm up, then the median of `repeats` (peak over all)."""
        client = self._client(user)
        response = client.get(url)
        if response.status_code != 200:
            raise CommandError(f"{stage}: GET {url} answered {response.status_code}")
        times = []
        with _Stage() as m:
            for _ in range(repeats):
                start = time.perf_counter()
                response = client.get(url)
                times.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise CommandError(f"{stage}: GET {url} answered {response.status_code}")
        m.seconds = statistics.median(times)
        self.record(stage, m, note=f"GET {url}, median of {repeats} after one{(', ' + note) if note else ''}")

    def stage_dashboard(self):
        self._reviewer()
        client = self._client(self.reviewer)
        with _Stage() as m:
            response = client.get("/review/dashboard/?refresh=1")
        if response.status_code != 200:
            raise CommandError(f"dashboard answered {response.status_code}")
        self.record("dashboard", m, faces=self.faces, note="GET /review/dashboard/?refresh=1, the first recompute "
                                                         "after the bulk stages: cold, every block's partials computed")
        self._page("dashboard-again", self.reviewer, "/review/dashboard/?refresh=1",
                   "a recompute with nothing changed: every block's partials from the cache", repeats=1)
        answered = self._answer_through_queue(100)
        with _Stage() as m:
            response = client.get("/review/dashboard/?refresh=1")
        if response.status_code != 200:
            raise CommandError(f"dashboard answered {response.status_code}")
        self.record("dashboard-new", m, note=f"GET /review/dashboard/?refresh=1 after {answered} new answers through "
                                             "claim + submit: their blocks recomputed, the rest from the cache")
        self._page("dashboard-hit", self.reviewer, "/review/dashboard/", "the cached figures")

    def stage_queue_first(self):
        self._page("queue-first", self._reviewer(), "/review/")

    def stage_queue_deep(self):
        from annotator.models import Face
        from benchmarks.management.commands.bench_reads import queue_cursor_before
        from reviews import selectors

        # The page nine tenths of the way down, as a reviewer following its "next" links reaches it (a queue
        # of one page: its first is its deepest).
        pages = max(1, Face.objects.filter(needs_review=True).count() // selectors.QUEUE_PAGE)
        page = max(1, min(pages, pages * 9 // 10))
        after = queue_cursor_before(page, None)
        self._page("queue-deep", self._reviewer(), f"/review/?after={after}" if after else "/review/",
                   f"page {page} of ~{pages}, by its cursor")

    def stage_review_item(self):
        from annotator.models import Face

        face_id = Face.objects.filter(needs_review=True).order_by("-id").values_list("id", flat=True).first()
        self._page("review-item", self._reviewer(), f"/review/face/{face_id}/")

    def stage_admin_faces(self):
        self._reviewer()
        self._page("admin-faces", self.admin, "/admin/annotator/face/")
        self._page("admin-filter", self.admin, "/admin/annotator/face/?needs_review__exact=1&split__exact=val")
        self._page("admin-search", self.admin, f"/admin/annotator/face/?q={self.faces // 2}")

    def stage_agreement(self):
        from annotator.models import Project
        from reviews import evaluation

        scope = {Project.objects.default().pk}
        with _Stage() as m:
            result = evaluation.agreement(scope=scope)
        overlap = result.get("faces") or result.get("n") or ""
        self.record("agreement", m, faces=self.faces, note=f"reviews.evaluation.agreement {overlap}".strip())

    def stage_evaluate(self):
        from annotator.models import Project
        from annotator.training.selectors import suggester_evaluate

        project = Project.objects.default()
        with _Stage() as m:
            result = suggester_evaluate(self.suggester, "val", projects=[project])
        n = (result.get("categorical") or {}).get("n")
        self.record("evaluate", m, faces=self.faces, note=f"suggester_evaluate on val (n={n})")

    def stage_export(self):
        from annotator.datasets.exporting import affectnet_export

        # Two rounds, the order alternated (export then bare-write, bare-write then export), each side's
        # better round compared: a writer elsewhere on the machine, or its sync, that slows one run shows
        # as a gap between the rounds (in the note) instead of as the ratio.
        runs = {"export": [], "bare-write": []}
        total = written = None
        for order in (("export", "bare-write"), ("bare-write", "export")):  # the export first: it counts the faces
            for which in order:
                out = self.work / which
                os.sync()  # flushed before each timed part, not in it: a sync waits for every writer on the machine
                with _Stage() as m:
                    if which == "export":
                        total = affectnet_export(out=out, progress=False, workers=self.workers)["total"]
                    else:
                        written = bare_write(Path(settings.MEDIA_ROOT), out, total, self.workers)
                runs[which].append(m)
                shutil.rmtree(out, ignore_errors=True)
        best = {which: min(ms, key=lambda m: m.seconds) for which, ms in runs.items()}
        rounds = {which: ", ".join(f"{m.seconds:.1f}" for m in ms) for which, ms in runs.items()}
        self.record("bare-write", best["bare-write"], faces=written,
                    note=f"copy the crop + 4 np.save a face, {self.workers} processes; best of {rounds['bare-write']} s")
        self.record("export", best["export"], faces=total,
                    baseline={"name": "bare-write", "seconds": best["bare-write"].seconds, "faces": written},
                    note=f"{total} faces with a final label, {self.workers} writers; best of {rounds['export']} s, "
                         f"alternated with bare-write")

    def stage_worker_load(self):
        from benchmarks.pipeline_load import worker_load

        result = worker_load(self)
        if result is not None:
            self.record("worker-load", result.pop("stage"), faces=result.pop("faces"), note=result.pop("note"))


def _device_sync(model):
    device = str(getattr(model, "device", "cpu"))
    if device.startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    return lambda: None


def _chunks(iterable, size):
    chunk = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk

