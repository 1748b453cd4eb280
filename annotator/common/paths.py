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
