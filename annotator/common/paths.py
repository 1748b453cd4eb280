"""Checks on filesystem paths that come from users: only folders under DATA_ROOTS are used."""
from pathlib import Path

from django.conf import settings


class PathNotAllowed(ValueError):
    """A path outside the allowed roots (DATA_ROOTS), or one that escapes its folder by a link."""


def is_within(path: Path, root: Path) -> bool:
    """Return whether the resolved path lies inside the resolved root."""
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
    except ValueError:
        return False
    return True


def allowed_path(path, *, purpose="read") -> Path:
    """Return the resolved path if it lies under one of settings.DATA_ROOTS; raise otherwise."""
    resolved = Path(path).expanduser().resolve()
    roots = [Path(r).resolve() for r in settings.DATA_ROOTS]
    if not any(is_within(resolved, root) for root in roots):
        allowed = ", ".join(str(r) for r in roots) or "(none)"
        raise PathNotAllowed(f"{path}: outside the folders this tool may {purpose} (DATA_ROOTS: {allowed})")
    return resolved


def child_within(folder: Path, child: Path) -> Path:
    """Return the child's resolved path, refusing one (a symlink, say) that leads out of folder."""
    resolved = Path(child).resolve()
    if not is_within(resolved, folder):
        raise PathNotAllowed(f"{child}: points outside {folder} (to {resolved})")
    return resolved


def data_roots() -> list[Path]:
    """The allowed roots, resolved, in the order of settings.DATA_ROOTS (a page names one by its index)."""
    return [Path(r).resolve() for r in settings.DATA_ROOTS]


def data_root_path(root: int, relative: str = "") -> Path:
    """Return the folder a page chose: DATA_ROOTS[root] joined with a relative path, resolved.

    The client sends a root's index and a path relative to it, never an absolute path it could make up.
    Refused with a message that names the path: an unknown root, an absolute path, '..', and a path
    that a symbolic link leads out of its root."""
    roots = data_roots()
    try:
        index = int(root)
    except (TypeError, ValueError):
        raise PathNotAllowed(f"root {root!r}: not a data root's number") from None
    if not 0 <= index < len(roots):
        raise PathNotAllowed(f"root {root!r}: no such data root (DATA_ROOTS has {len(roots)})")
    text = (relative or "").replace("\\", "/").strip()
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise PathNotAllowed(f"{relative}: an absolute path; give a path relative to the data root")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PathNotAllowed(f"{relative}: '..' is not allowed; give a path inside the data root")
    base = roots[index]
    resolved = base.joinpath(*parts).resolve()
    if not is_within(resolved, base):
        raise PathNotAllowed(f"{relative}: leads outside the data root {base} (a symbolic link?)")
    return resolved


def folder_listing(root: int, relative: str = "") -> dict:
    """Return what the folder browser shows of a folder under a data root: its sub-folders (those that
    stay inside the root; hidden ones left out), its first 200 files' names and how many files it holds."""
    folder = data_root_path(root, relative)
    if not folder.is_dir():
        if not relative.strip("/."):
            raise PathNotAllowed(f"the data root {folder} does not exist: create it, or name others in DATA_ROOTS")
        raise PathNotAllowed(f"{relative}: not a folder under the data root")
    base = data_roots()[int(root)]
    folders, files, file_count = [], [], 0
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or not is_within(entry, base):  # hidden, or a link out of the root
            continue
        if entry.is_dir():
            folders.append(entry.name)
        else:
            file_count += 1
            if len(files) < 200:
                files.append(entry.name)
    rel = folder.relative_to(base).as_posix()
    return {"root": int(root), "root_path": str(base), "path": "" if rel == "." else rel, "folders": folders,
            "files": files, "file_count": file_count}
