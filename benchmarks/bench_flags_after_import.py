"""How long the quickstart setup (embedded broker, one worker) takes to suggest and flag an import.

    python benchmarks/bench_flags_after_import.py --faces 300 [--poll 0.05 1.0]

Each round runs in a fresh VAR_DIR (SQLite, kombu's filesystem broker, no Redis), as quickstart does:
- baseline: the same work in one process without a broker: `import_affectnet`, then
  `suggest --now` and `refresh_flags --stale` (the time of the last two is the baseline);
- worker (one row per --poll value, BROKER_POLL_SECONDS): a real `celery -A annotator worker` is
  started and ready, the import runs, and the clock stops when every face has been suggested and
  its flags evaluated (a FlagCheck row per face).
It prints, per row, the seconds after the import, faces/s, the tasks the worker ran, and the ratio
of its time to the baseline's (1.0: the broker adds nothing).
"""
import argparse
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.affectnet_helpers import write_face  # noqa: E402


def env_for(var_dir: Path, data: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(VAR_DIR=str(var_dir), DATA_ROOTS=str(data), SECRET_KEY=secrets.token_urlsafe(40), SUGGEST_DEVICE="cpu",
               LOG_LEVEL="INFO", **extra)
    return env


def manage(env, *args):
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def flagged(var_dir: Path) -> int:
    try:
        with sqlite3.connect(var_dir / "db.sqlite3", timeout=30) as db:
            return db.execute("select count(*) from reviews_flagcheck").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def baseline(work: Path, data: Path) -> float:
    var_dir = work / "baseline"
    env = env_for(var_dir, data)
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "import_affectnet", str(data), "--labels", "annotations", "--no-progress")
    started = time.perf_counter()
    manage(env, "suggest", "--now")
    manage(env, "refresh_flags", "--stale")
    return time.perf_counter() - started


def with_worker(work: Path, data: Path, faces: int, poll: float, timeout: float) -> tuple:
    var_dir = work / f"worker-{poll}"
    env = env_for(var_dir, data, BROKER_POLL_SECONDS=str(poll))
    manage(env, "migrate", "--verbosity", "0")
    log_path = var_dir / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "annotator", "worker", "-Q", "model,default", "--concurrency", "1",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while b"ready." not in log_path.read_bytes():
                if time.monotonic() > deadline or worker.poll() is not None:
                    raise RuntimeError(log_path.read_text()[-2000:])
                time.sleep(0.1)
            manage(env, "import_affectnet", str(data), "--labels", "annotations", "--no-progress")
            started = time.perf_counter()
            while flagged(var_dir) < faces:
                if time.perf_counter() - started > timeout:
                    break
                time.sleep(0.1)
            seconds = time.perf_counter() - started
        finally:
            worker.terminate()
            worker.wait(30)
    tasks = len(re.findall(r"Task [\w.]+\[[^\]]+\] succeeded", log_path.read_text(errors="replace")))
    return seconds, flagged(var_dir), tasks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=300)
    parser.add_argument("--poll", type=float, nargs="+", default=[0.05, 1.0], help="BROKER_POLL_SECONDS values")
    parser.add_argument("--timeout", type=float, default=600, help="give up on a round after this many seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-flags-") as tmp:
        work = Path(tmp)
        data = work / "data"
        for i in range(1, args.faces + 1):
            write_face(data / "train_set", i, category=1 + i % 7, valence=0.3, arousal=0.2)
        base = baseline(work, data)
        rows = [("in one process, no broker (baseline)", base, args.faces, "-", 1.0)]
        for poll in args.poll:
            seconds, done, tasks = with_worker(work, data, args.faces, poll, args.timeout)
            rows.append((f"worker, embedded broker, poll {poll:g} s", seconds, done, tasks, seconds / base))
    print(f"\n{args.faces} imported labelled faces: suggested and flagged\n")
    print(f"| {'how':<40} | {'seconds':>8} | {'faces done':>10} | {'faces/s':>8} | {'tasks run':>9} | {'vs baseline':>11} |")
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 12}|{'-' * 10}|{'-' * 11}|{'-' * 13}|")
    for how, seconds, done, tasks, ratio in rows:
        print(f"| {how:<40} | {seconds:8.1f} | {done:10d} | {done / seconds:8.1f} | {tasks!s:>9} | {ratio:10.2f}x |")


if __name__ == "__main__":
    main()
