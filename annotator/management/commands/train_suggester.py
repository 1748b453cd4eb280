"""Train the project's network on the final labels of the train split, record it, evaluate it on val."""
import faulthandler
import shlex
from datetime import datetime, timezone
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotator.domain.categories import CATEGORY_NAMES
from annotator.domain.errors import DomainError
from annotator.domain.evaluation_tables import format_seed_table
from annotator.models import Split, Suggester
from annotator.projects.selectors import project_named, projects_named
from annotator.suggestions.services import suggester_activate, suggester_record
from annotator.training.data import training_samples
from annotator.training.samples import TrainingError
from annotator.training.selectors import evaluation_faces

DEPTHS = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


class Command(BaseCommand):
    help = (
        "Train the expression network on final labels of the train split (CUDA with bf16 when present), "
        "checkpoint every epoch under CHECKPOINT_DIR/<name>/<version>/, evaluate on the val split with "
        "the seed's table, and record it as a suggester."
    )

    def add_arguments(self, parser):
        parser.add_argument("--epochs", type=int, default=10)
        parser.add_argument("--batch-size", type=int, default=64)
        parser.add_argument("--categories", type=int, choices=(8, 11), default=None,
                            help="8 (the seed's 0-7) or 11; default SUGGESTER_CATEGORIES")
        parser.add_argument("--name", default="expression-net", help="model name (a folder under CHECKPOINT_DIR)")
        parser.add_argument("--model-version", default=None, help="default: the start time, YYYYMMDD-HHMMSS")
        parser.add_argument("--resume", action="store_true",
                            help="continue the newest run of --name (or --model-version) from its last finished epoch")
        parser.add_argument("--backbone", default=None,
                            help="a state_dict file of pretrained ResNet weights (torchvision names)")
        parser.add_argument("--project", action="append", default=[],
                            help="train on this project's faces (repeat for several; default: every project)")
        parser.add_argument("--activate", action="store_true",
                            help="make the trained model the active suggester of the --project projects (default: the only one)")
        parser.add_argument("--no-queue", action="store_true",
                            help="with --activate: do not queue suggestions for faces not final yet")
        parser.add_argument("--limit", type=int, default=None, help="train on at most this many faces")
        parser.add_argument("--depth", type=int, choices=sorted(DEPTHS), default=18, help="ResNet depth")
        parser.add_argument("--width", type=int, default=64, help="channels of the first stage (64 as ResNet)")
        parser.add_argument("--input-size", type=int, default=224, help="side the crops are resized to")
        parser.add_argument("--lr", type=float, default=1e-3)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: CUDA when present)")
        parser.add_argument("--workers", type=int, default=None, help="data-loading processes")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        # A crash in native code (torch, oneDNN) then prints the Python stack it happened under.
        faulthandler.enable()
        # torch loads only when the command runs, not for `manage.py help`.
        from annotator.suggestions.inference.checkpoint import checkpoint_config
        from annotator.suggestions.inference.network import NetConfig
        from annotator.training.trainer import TrainConfig, data_summary, last_checkpoint, train

        num_classes = options["categories"] or settings.SUGGESTER_CATEGORIES
        name = options["name"]
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise CommandError(f"--name: {name!r} is not a plain folder name")
        run_dir = self._run_dir(name, options["model_version"], options["resume"], last_checkpoint)
        version = run_dir.name
        if not options["resume"] and Suggester.objects.filter(name=name, version=version).exists():
            raise CommandError(f"--model-version: {name} {version} is already recorded; choose another version")
        if options["backbone"] and not Path(options["backbone"]).is_file():
            raise CommandError(f"--backbone: {options['backbone']}: no such file")
        try:
            net_config = NetConfig(num_classes=num_classes, width=options["width"], layers=DEPTHS[options["depth"]],
                                   input_size=options["input_size"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None

        try:
            projects = projects_named(options["project"])
            self._activate_in = (projects if options["project"] else [project_named()]) if options["activate"] else []
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        warn = lambda message: self.stderr.write(self.style.WARNING(message))  # noqa: E731
        train_samples = training_samples(splits=[Split.TRAIN], limit=options["limit"], projects=projects, warn=warn)
        val_samples = training_samples(splits=[Split.VAL], projects=projects, warn=warn)
        if not train_samples:
            raise CommandError("no faces with a final label in the train split: label some first")
        self._check_categories(train_samples, num_classes)
        # Judged only on labels that do not echo a suggestion (as `evaluate` and the dashboard judge it).
        recorded = Suggester.objects.filter(name=name, version=version).first()
        independent = set(evaluation_faces(recorded, Split.VAL, range(num_classes)).values_list("id", flat=True))
        usable_val = [s for s in val_samples if s.category < num_classes]
        val_samples = [s for s in usable_val if s.face_id in independent]
        self.stdout.write(f"{name} {version}: {len(train_samples)} training faces, {len(val_samples)} validation "
                          f"faces ({len(usable_val) - len(val_samples)} more left out: their label rests on answers "
                          f"given with a suggestion in view), {num_classes} categories, checkpoints in {run_dir}")
        train_config = TrainConfig(epochs=options["epochs"], batch_size=options["batch_size"], lr=options["lr"],
                                   seed=options["seed"], device=options["device"], workers=options["workers"])
        try:
            result = train(train_samples, out_dir=run_dir, name=name, version=version, net_config=net_config,
                           train_config=train_config, val_samples=val_samples, resume=options["resume"],
                           backbone=options["backbone"], progress=not options["no_progress"],
                           log=self.stdout.write, evaluation_min_n=settings.EVALUATION_MIN_N)
        except TrainingError as exc:
            raise CommandError(str(exc)) from None
        if result.interrupted:
            raise CommandError(f"stopped; resume with: {self._resume_command(options, num_classes, name, version)}")

        training = {
            "train": result.data,
            "val": data_summary(val_samples),
            "categories": num_classes,
            "epochs": len(result.history),
            "history": result.history,
            "device": result.device,
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "backbone": options["backbone"],
            "backbone_report": result.backbone_report,
            "options": {k: options[k] for k in ("epochs", "batch_size", "lr", "seed", "limit", "depth", "width",
                                                 "input_size")},
        }
        suggester = suggester_record(name=name, version=version, path=str(result.checkpoint.resolve()),
                                     config=checkpoint_config(net_config, name=name, version=version),
                                     training=training, evaluation=result.evaluation or {})
        self.stdout.write(self.style.SUCCESS(f"recorded suggester {suggester} (id {suggester.pk}): {result.checkpoint}"))
        if result.evaluation:
            self.stdout.write(format_seed_table(result.evaluation, title=f"{name} {version}"))
        else:
            self.stdout.write("no validation faces with a final label: not evaluated")
        if options["activate"]:
            for project in self._activate_in:
                suggester_activate(suggester_id=suggester.pk, project=project,
                                   queue_suggestions=False if options["no_queue"] else None)
                self.stdout.write(self.style.SUCCESS(f"{suggester} is now the active suggester of {project.slug}"))

    def _check_categories(self, samples, num_classes):
        """Refuse training data that names fewer than two of the network's categories: the loss has
        nothing to tell apart, and the weighted cross entropy of one class is constant."""
        every = {s.category for s in samples}
        present = sorted(c for c in every if c < num_classes)
        if len(present) < 2:
            named = ", ".join(CATEGORY_NAMES[c] for c in present) or "none"
            raise CommandError(
                f"the train split's final labels name {len(present)} of the {num_classes} categories the network "
                f"has ({named}); a classifier needs at least two: label faces of another category first"
                + (" (or train with --categories 11)" if num_classes < 11 and len(every) >= 2 else ""))

    def _resume_command(self, options, num_classes, name, version) -> str:
        """Return the command that continues this run: every option that shapes it, so the resumed run
        trains the same network on the same faces with the same schedule (the checkpoint does not
        store the options)."""
        words = ["python", "manage.py", "train_suggester", "--resume", "--name", name, "--model-version", version,
                 "--categories", str(num_classes)]
        for option in ("epochs", "batch_size", "lr", "seed", "depth", "width", "input_size", "limit", "device",
                       "workers"):
            if options[option] is not None:
                words += [f"--{option.replace('_', '-')}", str(options[option])]
        for slug in options["project"]:
            words += ["--project", slug]
        for flag in ("activate", "no_queue", "no_progress"):
            if options[flag]:
                words.append(f"--{flag.replace('_', '-')}")
        return shlex.join(words)

    def _run_dir(self, name, version, resume, last_checkpoint) -> Path:
        """Return the run's folder; with resume, one holding a checkpoint of a finished epoch
        (last.safetensors, or last.pt of a run from before safetensors)."""
        base = Path(settings.CHECKPOINT_DIR) / name
        if resume:
            if version:
                run_dir = base / version
            else:
                runs = sorted((p for p in base.glob("*/") if last_checkpoint(p)),
                              key=lambda p: last_checkpoint(p).stat().st_mtime)
                if not runs:
                    raise CommandError(f"--resume: no run of {name} under {base} to resume")
                run_dir = runs[-1]
            if last_checkpoint(run_dir) is None:
                raise CommandError(f"--resume: {run_dir} holds no last.safetensors (nor an older last.pt)")
            return run_dir
        version = version or datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        if "/" in version or "\\" in version or version.startswith("."):
            raise CommandError(f"--model-version: {version!r} is not a plain folder name")
        run_dir = base / version
        if last_checkpoint(run_dir) is not None:
            raise CommandError(f"{run_dir} holds a run already: add --resume to continue it, or choose --model-version")
        return run_dir
