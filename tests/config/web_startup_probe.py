"""Run by test_web_imports.py in a fresh interpreter: start the web process as gunicorn's worker does (the WSGI
application), resolve every URL route's view, import every tasks module (as beat does), and print what got
imported, as JSON.

With WEB_ONLY_MODULES set (a JSON list of the top-level modules requirements-web.txt installs), any other
installed package is refused as if it were not installed, as on a web-only machine: a package imported only
if present (`try: import x`) is then skipped, one the web process needs fails the start."""
import importlib.abc
import json
import os
import sys

ALLOWED = set(json.loads(os.environ["WEB_ONLY_MODULES"])) if os.environ.get("WEB_ONLY_MODULES") else None
refused = set()


class WebOnlyMachine(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in sys.stdlib_module_names or top in ALLOWED or top in sys.modules or top.startswith("_"):
            return None
        refused.add(top)
        raise ModuleNotFoundError(f"No module named {name!r} (not in requirements-web.txt)", name=name)


if ALLOWED is not None:
    sys.meta_path.insert(0, WebOnlyMachine())

from django.urls import URLPattern, URLResolver, get_resolver  # noqa: E402

from annotator.config.wsgi import application  # noqa: E402,F401  (what gunicorn's worker imports)


def views(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from views(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            yield pattern.callback  # imports the view's module


resolved = list(views(get_resolver().url_patterns))
# Beat and Flower run on the web box too: they load the Celery app, and beat every tasks module.
from annotator.config.celery import app  # noqa: E402

app.loader.import_default_modules()
task_count = len([name for name in app.tasks if not name.startswith("celery.")])
view_modules = sorted({view.__module__ for view in resolved})
torch_refused = None
if ALLOWED is not None:  # proof that a web-only run refuses what is installed but not in requirements-web.txt
    try:
        import torch  # noqa: F401
        torch_refused = False
    except ModuleNotFoundError:
        torch_refused = True
print(json.dumps({"views": len(resolved), "tasks": task_count, "view_modules": view_modules, "modules": sorted(sys.modules),
                  "refused": sorted(refused), "torch_refused": torch_refused}))
