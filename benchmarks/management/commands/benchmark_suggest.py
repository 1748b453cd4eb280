"""Benchmark the suggestion path: end-to-end suggestions/s against the bare model on the same batches.

End-to-end is what a worker does per task (suggestions_compute): read each crop from storage,
decode, preprocess, forward, store the rows. Bare is model.predict on the same crops already
decoded in memory, batch by batch. Both run in this process, on the same device, in alternation.
Run it on a scratch database, e.g.:

    DATABASE_URL=sqlite:////tmp/bench.sqlite3 MEDIA_ROOT=/tmp/bench-media python manage.py migrate
    BENCHMARKS=1 DATABASE_URL=sqlite:////tmp/bench.sqlite3 MEDIA_ROOT=/tmp/bench-media \\
        python manage.py benchmark_suggest --faces 1024 --create-faces

(scripts/bench_suggest.sh does both on a throwaway database.)

With --compare-runtimes it times one network of the project under both runtimes instead: torch (the
`checkpoint` suggester) and onnxruntime (the same network through export_suggester's ONNX, as the
`onnx` suggester), bare and end-to-end, on the same faces and device (CUDA when present: torch with
bf16 autocast, onnxruntime's CUDA provider when its wheel has one; else the CPU), and prints how far
their answers are apart. The network: --suggester NAME VERSION (a trained one), --checkpoint PATH, or
by default an untrained ResNet-18 of the project's config (the speed of a trained one).
"""
import statistics
import tempfile
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
    help = "Print end-to-end suggestions/s vs. the bare model forward on the same batches (--compare-runtimes: " \
           "torch vs onnxruntime for one network)."

    def add_arguments(self, parser):
        parser.add_argument("--faces", type=int, default=256)
        parser.add_argument("--batch-size", type=int, default=None, help="default: SUGGEST_BATCH_SIZE")
        parser.add_argument("--repeats", type=int, default=3)
        parser.add_argument("--device", default=None, help="cpu, cuda; default: CUDA when present")
        parser.add_argument("--create-faces", action="store_true",
                            help="add synthetic faces (copies of the test photos) until --faces exist")
        parser.add_argument("--compare-runtimes", action="store_true",
                            help="time the project's network under torch and under onnxruntime")
        parser.add_argument("--suggester", nargs=2, metavar=("NAME", "VERSION"), default=None,
                            help="with --compare-runtimes: a recorded checkpoint suggester")
        parser.add_argument("--checkpoint", default=None, help="with --compare-runtimes: a checkpoint file")

    def handle(self, *args, faces, batch_size, repeats, device, create_faces, compare_runtimes, suggester, checkpoint,
               **options):
        batch_size = batch_size or settings.SUGGEST_BATCH_SIZE
        if (suggester or checkpoint) and not compare_runtimes:
            raise CommandError("--suggester/--checkpoint go with --compare-runtimes")
        if suggester and checkpoint:
            raise CommandError("give --suggester or --checkpoint, not both")
        rows = self._faces(faces, create_faces)
        ids = [f.id for f in rows]
        batches = [np.stack(chunk) for chunk in chunked((crop_load(f.image.name) for f in rows), batch_size)]
        db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        if compare_runtimes:
            with tempfile.TemporaryDirectory() as scratch:
                self._compare_runtimes(ids, batches, batch_size, repeats, device, db, suggester, checkpoint,
                                       Path(scratch))
            return
        import torch

        record = Suggester.objects.create(name="benchmark", version=str(time.time_ns()), kind="builtin")
        model = load_model("builtin", "", {}, record.name, record.version, device=device)
        dev = str(model.device)
        try:
            bare_s, e2e_s = self._time(model, record, ids, batches, batch_size, repeats, dev)
        finally:
            record.delete()
        precision = "bf16 autocast" if dev.startswith("cuda") else "fp32"
        self.stdout.write(f"suggestion benchmark: {len(ids)} faces, batch {batch_size}, device {dev} ({precision}), "
                          f"database {db}, torch threads {torch.get_num_threads()}, "
                          f"decode threads {settings.SUGGEST_DECODE_THREADS}, median of {repeats}")
        self.stdout.write(f"{'path':<44} {'seconds':>8} {'faces/s':>9} {'vs bare':>8}")
        self.stdout.write(f"{'bare model forward (decoded crops in memory)':<44} {bare_s:>8.3f} "
                          f"{len(ids) / bare_s:>9.1f} {1.0:>8.2f}")
        self.stdout.write(f"{'end-to-end (load, decode, forward, store)':<44} {e2e_s:>8.3f} "
                          f"{len(ids) / e2e_s:>9.1f} {bare_s / e2e_s:>8.2f}")

    def _faces(self, faces, create_faces):
        missing = faces - Face.objects.count()
        if missing > 0:
            if not create_faces:
                raise CommandError(f"only {faces - missing} faces in the database; add --create-faces (scratch DB)")
            photos = sorted(PHOTOS.glob("*.jpg"))
            stamp = str(time.time_ns()).encode()
            faces_store([NewFace(crop_jpeg=photos[i % len(photos)].read_bytes() + b"\0" + stamp + str(i).encode(),
                                 source=f"benchmark-{i}") for i in range(missing)])
        return list(Face.objects.order_by("id").only("id", "image")[:faces])

    def _time(self, model, record, ids, batches, batch_size, repeats, dev):
        """Return the medians (bare seconds, end-to-end seconds) of model on the batches, in alternation."""
        import torch

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

                Suggestion.objects.filter(suggester=record).delete()
                start = time.perf_counter()
                stored = suggestions_compute(face_ids=ids, suggester=record, model=model, batch_size=batch_size)
                sync()
                end_to_end.append(time.perf_counter() - start)
                if len(stored) != len(ids):
                    raise CommandError(f"stored {len(stored)} of {len(ids)} suggestions")
        finally:
            Suggestion.objects.filter(suggester=record).delete()
        return statistics.median(bare), statistics.median(end_to_end)

    def _network(self, suggester, checkpoint, scratch: Path) -> tuple[Path, str]:
        """Return (checkpoint path, what it is) of the network to compare."""
        if suggester:
            row = Suggester.objects.filter(name=suggester[0], version=suggester[1]).first()
            if row is None or row.kind != Suggester.Kind.CHECKPOINT:
                raise CommandError(f"--suggester: no checkpoint suggester {suggester[0]} {suggester[1]}")
            return Path(row.path), f"{row.name} {row.version} ({row.path})"
        if checkpoint:
            if not Path(checkpoint).is_file():
                raise CommandError(f"--checkpoint: {checkpoint}: no such file")
            return Path(checkpoint), checkpoint
        import torch

        from annotator.suggestions.inference.checkpoint import checkpoint_config, checkpoint_save
        from annotator.suggestions.inference.network import ExpressionNet, NetConfig

        torch.manual_seed(0)
        net = ExpressionNet(NetConfig(num_classes=settings.SUGGESTER_CATEGORIES))
        path = checkpoint_save(scratch / "untrained.safetensors", model=net.eval(),
                               config=checkpoint_config(net.config, name="untrained", version="0"))
        return path, "untrained ResNet-18 of the project's default config (timing only)"

    def _compare_runtimes(self, ids, batches, batch_size, repeats, device, db, suggester, checkpoint, scratch):
        import onnxruntime as ort
        import torch

        from annotator.suggestions.inference.checkpoint import CheckpointError
        from annotator.suggestions.inference.onnx_export import ExportError, export_onnx

        path, what = self._network(suggester, checkpoint, scratch)
        try:
            config = export_onnx(path, scratch / "network.onnx")
        except (CheckpointError, ExportError) as exc:
            raise CommandError(str(exc)) from None
        stamp = str(time.time_ns())
        records = {
            "torch": Suggester.objects.create(name="benchmark-torch", version=stamp, kind="checkpoint", path=str(path)),
            "onnxruntime": Suggester.objects.create(name="benchmark-onnx", version=stamp, kind="onnx",
                                                    path=str(scratch / "network.onnx"), config=config),
        }
        results = {}
        try:
            models = {runtime: load_model(r.kind, r.path, r.config, r.name, r.version, device=device)
                      for runtime, r in records.items()}
            torch_dev = str(models["torch"].device)
            devices = {"torch": f"{torch_dev} ({'bf16 autocast' if torch_dev.startswith('cuda') else 'fp32'})",
                       "onnxruntime": f"{models['onnxruntime'].provider} (fp32)"}
            for runtime, model in models.items():
                results[runtime] = self._time(model, records[runtime], ids, batches, batch_size, repeats, torch_dev)
            answers = {runtime: [model.predict(batch) for batch in batches] for runtime, model in models.items()}
        finally:
            for record in records.values():
                record.delete()
        dp = max(float(np.abs(a.probabilities - b.probabilities).max()) for a, b in zip(*answers.values()))
        dva = max(max(float(np.abs(a.valence - b.valence).max()), float(np.abs(a.arousal - b.arousal).max()))
                  for a, b in zip(*answers.values()))
        agree = np.mean(np.concatenate([np.argmax(a.probabilities, 1) == np.argmax(b.probabilities, 1)
                                        for a, b in zip(*answers.values())]))
        net = config["source"]
        self.stdout.write(f"runtime benchmark: {len(ids)} faces, batch {batch_size}, database {db}, median of "
                          f"{repeats}; torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime "
                          f"{ort.__version__} (providers here: {', '.join(ort.get_available_providers())}), "
                          f"ONNX opset {net['opset']}, decode threads {settings.SUGGEST_DECODE_THREADS}")
        self.stdout.write(f"network: {what}; {len(config['labels'])} categories, input {config['input_size']} px")
        base = results["torch"][0]
        self.stdout.write(f"{'runtime':<12} {'device':<28} {'path':<34} {'seconds':>8} {'faces/s':>9} "
                          f"{'vs torch bare':>13}")
        for runtime, (bare_s, e2e_s) in results.items():
            for label, seconds in (("bare model forward (in memory)", bare_s),
                                   ("end-to-end (load, decode, store)", e2e_s)):
                self.stdout.write(f"{runtime:<12} {devices[runtime]:<28} {label:<34} {seconds:>8.3f} "
                                  f"{len(ids) / seconds:>9.1f} {base / seconds:>12.2f}x")
        self.stdout.write(f"answers, onnxruntime vs torch on these faces: max |probability difference| {dp:.1e}, "
                          f"max |valence/arousal difference| {dva:.1e}, same top category {agree:.1%}")
