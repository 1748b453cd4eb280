"""BENCHMARKS=1 python manage.py benchmark_import_images: import_images' speed against a bare loop, in the same run.

Rows: a bare loop (decode + detect + crop + landmarks, results dropped, no database) in one process
and in a pool of --workers processes, then the real import (same pool, plus hashing for the
seen-before check, storage and database writes). The ratio compares the import with the bare pool;
the pooled runs alternate --repeat times and the fastest of each is shown, as the machine may be shared.
Photos are made from the shipped test photographs (mirrored, rescaled, so every file is new).
The database writes are rolled back and crops go to a temporary MEDIA_ROOT: nothing is kept.
"""
import os
import tempfile
import time
from multiprocessing import forkserver
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings
from PIL import Image, ImageOps

from annotator.photos import detection
from annotator.photos.services import analysed_photos, photo_files, photos_import

SOURCE = Path(settings.BASE_DIR) / "tests" / "data" / "photos"


class _Rollback(Exception):
    pass


def make_photos(folder: Path, count: int) -> None:
    sources = sorted(p for p in SOURCE.iterdir() if p.suffix == ".jpg")
    for i in range(count):
        image = Image.open(sources[i % len(sources)]).convert("RGB")
        if (i // len(sources)) % 2:
            image = ImageOps.mirror(image)
        scale = 1.0 - 0.02 * ((i // (2 * len(sources))) % 10)
        image = image.resize((round(image.width * scale), round(image.height * scale)))
        image.save(folder / f"{i:05d}.jpg", quality=90)


class Command(BaseCommand):
    help = "Print photos/s and faces/s of import_images against a bare decode+detect+crop loop, and time per stage."

    def add_arguments(self, parser):
        parser.add_argument("--photos", type=int, default=48)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--detector", choices=detection.DETECTORS, default=None)
        parser.add_argument("--repeat", type=int, default=2,
                            help="Pooled runs are repeated, alternating, and the fastest of each is shown "
                                 "(the machine may be shared)")

    def handle(self, *args, photos, workers, detector, repeat, **options):
        detector = detector or settings.FACE_DETECTOR
        scratch = Path(settings.VAR_DIR) / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="benchmark-import-images-", dir=scratch) as tmp:
            folder = Path(tmp) / "photos"
            folder.mkdir()
            make_photos(folder, photos)
            forkserver.ensure_running()  # started once per run: its start-up must not land on the first pooled row
            single = self.bare(folder, 1, detector)
            pooled, real = [], []
            for i in range(max(1, repeat)):
                pooled.append(self.bare(folder, workers, detector))
                real.append(self.real(folder, Path(tmp) / f"media{i}", workers, detector))
            row, stages = min(real, key=lambda r: r[0][1])
            rows = [single, min(pooled, key=lambda r: r[1]), row]
        baseline = rows[1]
        out = self.stdout
        out.write(f"{photos} photos, detector {detector}, {workers} workers on {os.cpu_count()} cores")
        out.write(f"{'run':<38} {'seconds':>8} {'photos/s':>9} {'faces/s':>8} {'vs bare pool':>13}")
        for name, seconds, n_photos, n_faces in rows:
            out.write(f"{name:<38} {seconds:>8.2f} {n_photos / seconds:>9.2f} {n_faces / seconds:>8.2f} "
                      f"{(n_photos / seconds) / (baseline[2] / baseline[1]):>12.2f}x")
        total = sum(stages.values()) or 1.0
        out.write("share of time per stage in import_images (worker stages summed over processes):")
        for stage, value in sorted(stages.items(), key=lambda kv: -kv[1]):
            out.write(f"  {stage:<10} {value:>8.2f} s {100 * value / total:>6.1f}%")

    def bare(self, folder, workers, detector):
        started = time.perf_counter()
        n_photos = n_faces = 0
        for result in analysed_photos(photo_files(folder, print), workers=workers, detector=detector, keep_whole=False):
            n_photos += 1
            n_faces += len(result.faces)
        return (f"bare loop, {workers} process{'es' if workers > 1 else ''}, no database",
                time.perf_counter() - started, n_photos, n_faces)

    def real(self, folder, media, workers, detector):
        result = {}
        with override_settings(MEDIA_ROOT=media):
            try:
                with transaction.atomic():
                    started = time.perf_counter()
                    summary = photos_import(folder=folder, trusted_folder=True, workers=workers, detector=detector)
                    result["seconds"] = time.perf_counter() - started
                    result["summary"] = summary
                    raise _Rollback
            except _Rollback:
                pass
        summary = result["summary"]
        return (f"import_images, {workers} processes, database", result["seconds"], summary.photos,
                summary.faces_found), summary.seconds
