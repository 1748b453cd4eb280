"""bench_pipeline's worker-load stage: does the worker keep up with 32 annotators and an import at once?

A real Celery worker (both queues) runs on the scratch database with a Redis broker; an import of
more faces (its own process, queueing their suggestions) and 32 simulated annotators (one process,
a thread each, answering through the queue and answer services: each answer queues its flag check)
run at the same time. The Redis queues' lengths are sampled twice a second until the load has ended
and the queues have drained (or --drain-seconds passed). Run as a script, it is the annotators'
process:

    python benchmarks/pipeline_load.py annotators SECONDS THINK_SECONDS   (DATABASE_URL, REDIS_URL set)
"""

import os
import random
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUEUES = ("model", "default")
DRAIN_SECONDS = 600


def _queue_depths(client) -> dict:
    """The waiting tasks per queue (Celery's Redis lists, priority lists included) and those taken but not acked."""
    depths = dict.fromkeys(QUEUES, 0)
    for key in client.scan_iter(count=1000):
        name = key.decode(errors="replace")
        for queue in QUEUES:
            if (name == queue or name.startswith(queue + "\x06\x16")) and client.type(key) == b"list":
                depths[queue] += client.llen(key)
    depths["unacked"] = client.hlen("unacked") if client.exists("unacked") else 0
    return depths


def _pending() -> int:
    """The faces waiting for their coalesced flag check (reviews/pending.py)."""
    from reviews.models import FlagPending

    return FlagPending.objects.count()


def worker_load(run):
    """Run the stage for bench_pipeline's _Run; return its row's parts, or None (skipped, saying why)."""
    import redis
    from django.conf import settings
    from django.db import connection

    from benchmarks.management.commands.bench_pipeline import _Stage, set_generate

    if connection.vendor != "postgresql":
        run.log("worker-load: skipped (PostgreSQL only: a worker, an import and 32 annotators write at once)")
        return None
    redis_url = run.options["redis"] or os.environ.get("REDIS_URL_FOR_TESTS")
    if not redis_url:
        run.log("worker-load: skipped (no --redis URL and no REDIS_URL_FOR_TESTS)")
        return None
    from reviews.pending import flags_drain_unmark

    client = redis.Redis.from_url(redis_url)
    for key in list(client.scan_iter(count=1000)):  # this Redis database is the benchmark's alone
        client.delete(key)
    # A drain marked as queued by an earlier stage (to the scratch folder's broker, which no worker reads) would
    # hold the answers' drains back for FLAG_DRAIN_RESEND_SECONDS: none is queued now.
    flags_drain_unmark()
    extra = max(1000, min(20000, run.faces // 20))
    source = run.work / "load-source"
    set_generate(source, extra, first_id=_next_id(), labelled_share=0)
    db = settings.DATABASES["default"]
    env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": _database_url(db), "SUGGEST_DEVICE":
           run.options["device"], "DATA_ROOTS": str(run.work), "MEDIA_ROOT": str(settings.MEDIA_ROOT)}
    manage = [sys.executable, str(ROOT / "manage.py")]
    log = open(run.work / "worker.log", "w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "annotator", "worker", "-Q", ",".join(QUEUES), "--concurrency", "2",
         "--prefetch-multiplier", "1", "-n", f"bench-pipeline-{os.getpid()}@%h", "--without-gossip",
         "--without-mingle", "-l", "INFO"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    samples = []
    try:
        _wait_ready(run.work / "worker.log", worker)
        start = time.monotonic()
        with _Stage() as measured:
            importer = subprocess.Popen([*manage, "import_affectnet", str(source / "unlabelled"), "--labels", "none",
                                         "--no-progress", "--workers", str(run.workers)],
                                        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            annotators = subprocess.Popen([sys.executable, __file__, "annotators", str(run.options["load_seconds"]),
                                           "2"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            load_end = None
            while True:
                depths = {**_queue_depths(client), "pending": _pending()}
                now = time.monotonic() - start
                samples.append((now, depths))
                if load_end is None and importer.poll() is not None and annotators.poll() is not None:
                    load_end = now
                if load_end is not None and not any(depths.values()) and _idle(run, client):
                    break
                if load_end is not None and now - load_end > DRAIN_SECONDS:
                    break
                time.sleep(0.5)
        answers = annotators.stdout.read().decode().strip().splitlines()
        import_error = importer.stderr.read().decode()[-500:]
        if importer.returncode:
            run.log(f"worker-load: the import failed: {import_error}")
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
        for key in list(client.scan_iter(count=1000)):
            client.delete(key)
    final = samples[-1][1]
    peak = {q: max(s[1][q] for s in samples) for q in (*QUEUES, "unacked", "pending")}
    drained = not any(final.values())
    answered = answers[-1] if answers else "0 answers"
    halves = {q: _halves(samples, load_end, q) for q in (*QUEUES, "pending")}
    note = (f"a real worker (-Q model,default, 2 processes), an import of {extra} faces and 32 annotators "
            f"({answered}) at once; queue depth max model {peak['model']}, default {peak['default']}, unacked "
            f"{peak['unacked']}, pending flag checks {peak['pending']}; the load's first half / second half: "
            + ", ".join(f"{q} {a} / {b}" for q, (a, b) in halves.items())
            + ("; bounded" if all(_bounded(*h) for h in halves.values()) else "; GROWING")
            + f"; final model {final['model']}, default {final['default']}; "
            + (f"drained {samples[-1][0] - load_end:.0f} s after the load ended" if drained
               else f"NOT drained {DRAIN_SECONDS} s after the load ended"))
    (run.work / "queue-depths.tsv").write_text("seconds\tmodel\tdefault\tunacked\tpending\n" + "\n".join(
        f"{t:.1f}\t{d['model']}\t{d['default']}\t{d['unacked']}\t{d['pending']}" for t, d in samples))
    return {"stage": measured, "faces": extra, "note": note}


def _halves(samples, load_end: float, key: str) -> tuple[int, int]:
    """The largest depth in the load's first half and in its second half."""
    first = [d[key] for t, d in samples if t < load_end / 2] or [0]
    second = [d[key] for t, d in samples if load_end / 2 <= t <= load_end] or [0]
    return max(first), max(second)


def _bounded(first: int, second: int) -> bool:
    """A depth that does not grow with the load's length: its second half's peak no more than the first's
    (with some slack for noise: half again, or 10 tasks)."""
    return second <= max(first * 1.5, first + 10)


def _idle(run, client) -> bool:
    """True once every face has its suggestion and every answered face its flag check: nothing is left to do."""
    from django.db.models import Exists, OuterRef

    from annotator.models import Face, Suggestion
    from reviews.flagging import faces_with_stale_flags

    has = Suggestion.objects.filter(face=OuterRef("pk"))
    return not Face.objects.filter(~Exists(has)).exists() and not faces_with_stale_flags().exists()


def _next_id() -> int:
    from annotator.models import Face

    return (Face.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1


def _database_url(db) -> str:
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _wait_ready(log_path: Path, worker, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker ended: {log_path.read_text()[-2000:]}")
        if "ready." in log_path.read_text():
            return
        time.sleep(0.5)
    raise RuntimeError(f"the worker was not ready in {timeout} s: {log_path.read_text()[-2000:]}")


# --- the annotators' process ------------------------------------------------------------------


def _annotate(user, until: float, think: float, counts: list, index: int, errors: list) -> None:
    from django.db import connection

    from annotator.queue.services import annotation_submit, queue_claim
    from benchmarks.management.commands.bench_pipeline import _point, truth_of

    rng = random.Random(index)
    try:
        while time.monotonic() < until:
            items = queue_claim(annotator=user, count=1)
            if not items:
                time.sleep(think)
                continue
            item = items[0]
            time.sleep(rng.uniform(0.5, 1.5) * think)  # looking at the face
            shown = item.suggestion
            category = int(truth_of([item.face_id])[0])
            if rng.random() > 0.85:
                category = rng.choice([c for c in range(8) if c != category])
            valence, arousal = _point(category, rng)
            annotation_submit(face=item.face_id, annotator=user, category=category, valence=valence, arousal=arousal,
                              client_key=uuid.uuid4(), seconds_spent=think,
                              suggestion_id=None if shown is None else shown.id, outside_region_confirmed=True)
            counts[index] += 1
    except Exception as exc:  # noqa: BLE001 - reported by the stage, not lost in a thread
        errors.append(f"{user.username}: {exc!r}")
    finally:
        connection.close()


def annotators_main(seconds: float, think: float) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.config.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User

    users = list(User.objects.filter(username__startswith="sim-annotator-").order_by("username"))
    until = time.monotonic() + seconds
    counts, errors = [0] * len(users), []
    threads = [threading.Thread(target=_annotate, args=(u, until, think, counts, i, errors)) for i, u in
               enumerate(users)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for error in errors[:5]:
        print(error, file=sys.stderr)
    print(f"{sum(counts)} answers by {len(users)} annotators, {sum(counts) / (time.monotonic() - start):.1f}/s"
          + (f", {len(errors)} errors" if errors else ""))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "annotators":
        annotators_main(float(sys.argv[2]), float(sys.argv[3]))
    else:
        sys.exit(__doc__)
