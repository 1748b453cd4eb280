"""Register a suggester (an ONNX model, a checkpoint, the built-in one) and optionally make it active."""
import json

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from annotator.domain.errors import DomainError
from annotator.models import Suggester
from annotator.projects.selectors import project_named
from annotator.suggestions.inference.onnx_model import OnnxConfigError, embedded_config
from annotator.suggestions.inference.registry import UnknownSuggesterKind, load_model
from annotator.suggestions.services import suggester_activate, suggester_config


class Command(BaseCommand):
    help = "Add a suggester: NAME VERSION --kind onnx --path model.onnx --config '{\"labels\": [...]}' --activate"

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("version")
        parser.add_argument("--kind", choices=[k for k, _ in Suggester.Kind.choices], default="onnx")
        parser.add_argument("--path", default="")
        parser.add_argument("--config", default="{}", help="JSON: label order and preprocessing")
        parser.add_argument("--activate", action="store_true")
        parser.add_argument("--project", default=None, help="with --activate: the project (default: the only one)")

    def handle(self, *args, name, version, kind, path, config, activate, project=None, **options):
        try:
            project = project_named(project) if activate else None
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        try:
            config = json.loads(config)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--config: not JSON ({exc})") from None
        if not isinstance(config, dict):
            raise CommandError("--config: not a JSON object")
        if kind == Suggester.Kind.ONNX and path:
            # A file from export_suggester carries its config; --config keys override it. The row keeps
            # the whole, so a SUGGEST_ONNX_CONFIG meant for other models does not change this one.
            try:
                config = {**embedded_config(path), **config}
            except OnnxConfigError as exc:
                raise CommandError(str(exc)) from None
        merged = suggester_config(Suggester(kind=kind, config=config))
        try:
            # Refuse what would fail in the worker: load it and run it once on a blank crop.
            load_model(kind, path, merged, name, version, device="cpu").predict(np.zeros((1, 224, 224, 3), np.uint8))
        except (UnknownSuggesterKind, ValueError, OSError) as exc:
            raise CommandError(str(exc)) from None
        try:
            suggester = Suggester.objects.create(name=name, version=version, kind=kind, path=path, config=config)
        except IntegrityError:
            raise CommandError(f"a suggester {name} {version} exists already; give a new version") from None
        if activate:
            suggester_activate(suggester_id=suggester.id, project=project)
        self.stdout.write(f"added {suggester} ({kind}){f', active in {project.slug}' if activate else ''}")
