"""Export a trained suggester (the project's network, kind "checkpoint") as ONNX, with its config."""
import json
import shlex
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotator.models import Suggester


class Command(BaseCommand):
    help = (
        "Write the trained network of suggester NAME VERSION as ONNX at OUT.onnx (opset 17), its config "
        "(labels, input size, normalisation, output names) in the file's metadata, checked against torch "
        "with onnxruntime; register it with: add_suggester NAME2 VERSION2 --kind onnx --path OUT.onnx"
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("version")
        parser.add_argument("out", help="the .onnx file to write (its folder must exist)")
        parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17)")
        parser.add_argument("--force", action="store_true", help="replace OUT if it exists")

    def handle(self, *args, name, version, out, opset, force, **options):
        from annotator.suggestions.inference.checkpoint import CheckpointError
        from annotator.suggestions.inference.onnx_export import OPSET, ExportError, export_onnx

        suggester = Suggester.objects.filter(name=name, version=version).first()
        if suggester is None:
            raise CommandError(f"no suggester {name} {version} (see the admin's suggester list)")
        if suggester.kind != Suggester.Kind.CHECKPOINT:
            raise CommandError(f"{name} {version} is a {suggester.kind} suggester; only the project's trained "
                               "network (kind checkpoint, from train_suggester) is exported")
        out = Path(out)
        if out.suffix != ".onnx":
            raise CommandError(f"{out}: the file to write must end in .onnx")
        if not out.parent.is_dir():
            raise CommandError(f"{out}: the folder {out.parent} does not exist")
        if out.exists() and not force:
            raise CommandError(f"{out} exists; add --force to replace it")
        if opset is not None and not 13 <= opset <= 20:
            raise CommandError(f"--opset: {opset} (torch's exporter writes 13 to 20)")
        try:
            config = export_onnx(suggester.path, out, opset=opset or OPSET)
        except (CheckpointError, ExportError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(
            f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, opset {opset or OPSET}): {name} {version}, "
            f"{len(config['labels'])} categories, input {config['input_size']}x{config['input_size']} RGB NCHW"))
        self.stdout.write("config (also in the file's metadata): " + json.dumps(
            {k: v for k, v in config.items() if k != "source"}))
        register = ["python", "manage.py", "add_suggester", name, f"{version}-onnx", "--kind", "onnx",
                    "--path", str(out.resolve())]
        self.stdout.write(f"register it with: {shlex.join(register)}")
