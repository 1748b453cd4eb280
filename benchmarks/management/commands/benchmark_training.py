"""Benchmark: training images/s on the CPU and, when present, on CUDA (float32 and bf16), then a short
run on the labelled sample faces judged on the seed's table.

    BENCHMARKS=1 python manage.py benchmark_training [--no-cpu --workers 8]
"""
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotator.domain.evaluation_tables import format_seed_table
from annotator.training.data import samples_from_affectnet, samples_from_folder

SAMPLE_FACES = Path(__file__).resolve().parents[3] / "annotator" / "sample_faces"
DEPTHS = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


class Command(BaseCommand):
    help = ("Print training images/s per device and precision (ratio to the CPU in float32), and the seed's "
            "table for a short run on the labelled sample faces.")

    def add_arguments(self, parser):
        parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps per row")
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--depth", type=int, choices=sorted(DEPTHS), default=18)
        parser.add_argument("--width", type=int, default=64)
        parser.add_argument("--input-size", type=int, default=224)
        parser.add_argument("--workers", type=int, default=0, help="data-loading processes (CUDA rows)")
        parser.add_argument("--faces", default=str(SAMPLE_FACES),
                            help="folder of crops with labels.csv (file,category,valence,arousal), or an AffectNet "
                                 "images/annotations folder with train_set/ and val_set/ (e.g. the demo)")
        parser.add_argument("--short-epochs", type=int, default=12, help="epochs of the short run (0: skip it)")
        parser.add_argument("--no-cpu", action="store_true", help="skip the CPU row (GPU boxes with slow CPUs)")

    def handle(self, *args, **options):
        import torch

        from annotator.suggestions.inference.checkpoint import CheckpointModel
        from annotator.suggestions.inference.network import NetConfig
        from annotator.training.evaluation import samples_evaluate
        from annotator.training.trainer import TrainConfig, measure_training_speed, train

        folder = Path(options["faces"])
        if (folder / "train_set").is_dir() and (folder / "val_set").is_dir():
            train_set = samples_from_affectnet(folder / "train_set")
            val = samples_from_affectnet(folder / "val_set")
        else:
            # The last two views of each photo are held out for validation, the others train.
            samples = samples_from_folder(folder)
            val = [s for s in samples if Path(str(s.image)).stem.endswith(("_4", "_5"))]
            train_set = [s for s in samples if s not in val]
        samples = train_set + val
        if not train_set:
            raise CommandError(f"--faces: no labelled crops in {folder}")
        net = NetConfig(num_classes=11, width=options["width"], layers=DEPTHS[options["depth"]],
                        input_size=options["input_size"])
        rows = []
        if not options["no_cpu"]:
            rows.append(("cpu", "float32", False, 0))
        if torch.cuda.is_available():
            rows += [("cuda", "float32", False, options["workers"]), ("cuda", "bf16", True, options["workers"])]
        self.stdout.write(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
                          f"CUDA: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}")
        self.stdout.write(f"network ResNet-{options['depth']} width {options['width']}, input "
                          f"{options['input_size']}px, batch {options['batch_size']}, {options['steps']} timed steps, "
                          f"{len(samples)} real face crops with augmentation")
        header = f"{'device':<7} {'precision':<9} {'images/s':>10} {'ratio':>7}"
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        baseline = None
        for device, precision, bf16, workers in rows:
            speed = measure_training_speed(samples, net_config=net, device=device, batch_size=options["batch_size"],
                                           steps=options["steps"], bf16=bf16, workers=workers)
            baseline = baseline or speed
            self.stdout.write(f"{device:<7} {precision:<9} {speed:>10.1f} {speed / baseline:>6.2f}x")
        if not torch.cuda.is_available():
            self.stdout.write("(no CUDA device here: the CUDA float32 and bf16 rows run where one is present)")

        if options["short_epochs"] <= 0:
            return
        short = NetConfig(num_classes=11, width=16, layers=DEPTHS[10], input_size=112)
        with tempfile.TemporaryDirectory() as out:
            result = train(train_set, val_samples=val, out_dir=out, name="benchmark", version="short",
                           net_config=short, train_config=TrainConfig(epochs=options["short_epochs"], batch_size=8,
                                                                      lr=3e-3, workers=0),
                           progress=False, log=lambda _: None)
            # The suggester's path (what the worker runs): reload the checkpoint on the same device and
            # score the same crops again; on CUDA this runs the bf16 inference path.
            reloaded = CheckpointModel(result.checkpoint)
            again = samples_evaluate(val, reloaded.predict, categories=range(11))
        self.stdout.write("")
        self.stdout.write(f"short run on {folder}: ResNet-10 width 16 at 112px, {len(train_set)} training crops, "
                          f"{len(val)} validation crops, {options['short_epochs']} epochs on {result.device}, final training loss "
                          f"{result.history[-1]['loss']:.3f} (first epoch {result.history[0]['loss']:.3f})")
        if result.evaluation:
            self.stdout.write(format_seed_table(result.evaluation, title="short run"))
            same = again["categorical"]["acc"] == result.evaluation["categorical"]["acc"]
            self.stdout.write(f"checkpoint reloaded on {reloaded.device}: ACC {again['categorical']['acc']:.3f} "
                              f"({'same as' if same else 'DIFFERENT from'} the training run's evaluation)")
        else:
            self.stdout.write("no validation crops: not evaluated")
