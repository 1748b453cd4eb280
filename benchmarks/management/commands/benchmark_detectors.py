"""BENCHMARKS=1 python manage.py benchmark_detectors: how each face detector does on photos with known faces.

Per photo set (tests/data/photos/faces.json, and annotator/sample_faces as 224x224 crops) and detector:
faces found / expected, missed, junk boxes (matching no face), and the detection time per photo in
this process. tests/photos/test_known_faces.py holds the default detector to no miss and no junk.
"""
import csv
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand

from annotator.domain.crops import photo_decode
from annotator.photos import detection

PHOTOS = Path(settings.BASE_DIR) / "tests" / "data" / "photos"
SAMPLE_FACES = Path(settings.BASE_DIR) / "annotator" / "sample_faces"
CROP_FACE = (26, 26, 172, 172)  # a sample crop's face: its middle 1/1.3 (the crops are boxes grown 15% a side)


def photo_sets() -> list[tuple[str, Path, list, list]]:
    """Return (set, path, faces, hard faces) for every photo with known faces."""
    known = json.loads((PHOTOS / "faces.json").read_text())["photos"]
    rows = [(k["set"], PHOTOS / name, k["faces"], k["hard"]) for name, k in known.items()]
    with open(SAMPLE_FACES / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            rows.append(("sample crops", SAMPLE_FACES / row["file"], [] if row["category"] == "10" else [CROP_FACE], []))
    return rows


class Command(BaseCommand):
    help = "Print found / missed / junk faces and ms per photo of each face detector on photos with known faces."

    def add_arguments(self, parser):
        parser.add_argument("--detectors", nargs="+", choices=detection.DETECTORS, default=list(detection.DETECTORS))

    def handle(self, *args, detectors, **options):
        rows = photo_sets()
        images = [(group, path, np.asarray(photo_decode(path.read_bytes(), name=str(path))), faces, hard)
                  for group, path, faces, hard in rows]
        out = self.stdout
        out.write(f"{'photo set':<18} {'photos':>6} {'faces':>5}  " + "  ".join(
            f"{name + ' found/missed/junk':>24} {'ms':>5}" for name in detectors))
        totals = {name: [0, 0, 0, 0.0] for name in detectors}
        by_set = defaultdict(lambda: {name: [0, 0, 0, 0.0] for name in detectors})
        counts = defaultdict(lambda: [0, 0])
        for name in detectors:
            models = detection.Models(name, landmarks=False)
            models.detect(images[0][2])  # the first call sets OpenCV up: not counted
            for group, path, rgb, faces, hard in images:
                started = time.perf_counter()
                boxes = models.detect(rgb)
                seconds = time.perf_counter() - started
                score = detection.faces_score(faces, boxes, size=(rgb.shape[1], rgb.shape[0]), hard=hard)
                for numbers in (by_set[group][name], totals[name]):
                    numbers[0] += score.found
                    numbers[1] += len(score.missed)
                    numbers[2] += len(score.junk)
                    numbers[3] += seconds
                if options["verbosity"] > 1 and (score.missed or score.junk):
                    out.write(f"  {name}: {path.name}: missed {score.missed}, junk {score.junk}")
        for group, _path, _rgb, faces, _hard in images:
            counts[group][0] += 1
            counts[group][1] += len(faces)
        for group in list(by_set) + ["all"]:
            numbers = totals if group == "all" else by_set[group]
            photos = sum(c[0] for c in counts.values()) if group == "all" else counts[group][0]
            faces = sum(c[1] for c in counts.values()) if group == "all" else counts[group][1]
            cells = "  ".join(f"{f'{n[0]} / {n[1]} / {n[2]}':>24} {1000 * n[3] / photos:>5.0f}"
                              for n in (numbers[name] for name in detectors))
            out.write(f"{group:<18} {photos:>6} {faces:>5}  {cells}")
