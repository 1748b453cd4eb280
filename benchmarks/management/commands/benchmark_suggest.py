"""Benchmark the suggestion path: end-to-end suggestions/s against the bare model on the same batches.

End-to-end is what a worker does per task (suggestions_compute): read each crop from storage,
decode, preprocess, forward, store the rows. Bare is model.predict on the same crops already
decoded in memory, batch by batch. Both run in this process, on the same device, in alternation.
Run it on a scratch database, e.g.:

    DATABASE_URL=sqlite:////tmp/bench.sqlite3 MEDIA_ROOT=/tmp/bench-media python manage.py migrate
    BENCHMARKS=1 DATABASE_URL=sqlite:////tmp/bench.sqlite3 MEDIA_ROOT=/tmp/bench-media \\
        python manage.py benchmark_suggest --faces 1024 --create-faces

(scripts/bench_suggest.sh does both on a throwaway database.)
"""
import statistics
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotator.domain.batching import chunked
from annotator.faces.store import NewFace, faces_store
from annotator.models import Face, Suggester, Suggestion
from annotator.suggestions.inference.registry import load_model
from annotator.suggestions.services import crop_load, suggestions_compute

PHOTOS = Path(settings.BASE_DIR) / "tests" / "data"


class Command(BaseCommand):
    help = "Print end-to-end suggestions/s vs. the bare model forward on the same batches."

    def add_arguments(self, parser):
        parser.add_argument("--faces", type=int, default=256)
        parser.add_argument("--batch-size", type=int, default=None, help="default: SUGGEST_BATCH_SIZE")
        parser.add_argument("--repeats", type=int, default=3)
        parser.add_argument("--device", default=None, help="cpu, cuda; default: CUDA when present")
        parser.add_argument("--create-faces", action="store_true",
                            help="add synthetic faces (copies of the test photos) until --faces exist")

    def handle(self, *args, faces, batch_size, repeats, device, create_faces, **options):
        import torch

        batch_size = batch_size or settings.SUGGEST_BATCH_SIZE
        missing = faces - Face.objects.count()
        if missing > 0:
            if not create_faces:
                raise CommandError(f"only {faces - missing} faces in the database; add --create-faces (scratch DB)")
            photos = sorted(PHOTOS.glob("*.jpg"))
            stamp = str(time.time_ns()).encode()
            faces_store([NewFace(crop_jpeg=photos[i % len(photos)].read_bytes() + b"\0" + stamp + str(i).encode(),
                                 source=f"benchmark-{i}") for i in range(missing)])
        rows = list(Face.objects.order_by("id").only("id", "image")[:faces])
        ids = [f.id for f in rows]

        suggester = Suggester.objects.create(name="benchmark", version=str(time.time_ns()), kind="builtin")
        model = load_model("builtin", "", {}, suggester.name, suggester.version, device=device)
        dev = str(model.device)
        batches = [np.stack(chunk) for chunk in chunked((crop_load(f.image.name) for f in rows), batch_size)]
        model.predict(batches[0])  # warm-up: kernels, allocator

        def sync():
            if dev.startswith("cuda"):
                torch.cuda.synchronize()

        bare, end_to_end = [], []
        try:
            for _ in range(repeats):
                sync()
                start = time.perf_counter()
                for batch in batches:
                    model.predict(batch)
                sync()
                bare.append(time.perf_counter() - start)

                Suggestion.objects.filter(suggester=suggester).delete()
                start = time.perf_counter()
                stored = suggestions_compute(face_ids=ids, suggester=suggester, model=model, batch_size=batch_size)
                sync()
                end_to_end.append(time.perf_counter() - start)
                if len(stored) != len(ids):
                    raise CommandError(f"stored {len(stored)} of {len(ids)} suggestions")
        finally:
            Suggestion.objects.filter(suggester=suggester).delete()
            suggester.delete()

        bare_s, e2e_s = statistics.median(bare), statistics.median(end_to_end)
        precision = "bf16 autocast" if dev.startswith("cuda") else "fp32"
        db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        self.stdout.write(f"suggestion benchmark: {len(ids)} faces, batch {batch_size}, device {dev} ({precision}), "
                          f"database {db}, torch threads {torch.get_num_threads()}, "
                          f"decode threads {settings.SUGGEST_DECODE_THREADS}, median of {repeats}")
        self.stdout.write(f"{'path':<44} {'seconds':>8} {'faces/s':>9} {'vs bare':>8}")
        self.stdout.write(f"{'bare model forward (decoded crops in memory)':<44} {bare_s:>8.3f} "
                          f"{len(ids) / bare_s:>9.1f} {1.0:>8.2f}")
        self.stdout.write(f"{'end-to-end (load, decode, forward, store)':<44} {e2e_s:>8.3f} "
                          f"{len(ids) / e2e_s:>9.1f} {bare_s / e2e_s:>8.2f}")
