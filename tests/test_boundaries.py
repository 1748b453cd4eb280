"""The package boundaries and the lint rules hold (the same checks .ci/run runs before the suite)."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    return str(BIN / name) if (BIN / name).exists() else shutil.which(name) or name


def test_import_contracts_are_kept():
    """.importlinter: Django-free domain/formats/inference/detection/trainer, annotator never imports
    reviews, reviews only through annotator's interfaces, and no cycles at any level."""
    result = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_finds_nothing():
    result = subprocess.run([_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_django_free_parts_import_without_django_or_celery():
    """What the import contracts say holds at run time too: a notebook or a GPU box's script can
    import the domain, the formats, inference, detection and the trainer without a Django project."""
    modules = ["annotator.domain.categories", "annotator.domain.crops", "annotator.domain.metrics",
               "annotator.datasets.formats.affectnet_npy", "annotator.suggestions.inference.registry",
               "annotator.photos.detection", "annotator.training.trainer"]
    code = (f"import sys\nfor m in {modules!r}: __import__(m)\n"
            "print(sorted({n.split('.')[0] for n in sys.modules} & {'django', 'rest_framework', 'celery', 'kombu'}))")
    env = {k: v for k, v in __import__("os").environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
