"""The disk fills during `export_affectnet OUT --force`: a clear error, OUT as it was, nothing left behind.

The full disk is real: OUT lies on a small tmpfs mounted under the test's folder (a loop-mounted
ext4 image where tmpfs cannot be mounted), filled up to a little less than the new export needs.
Mounting needs root (CAP_SYS_ADMIN); without it the test is skipped and says why.
"""
import multiprocessing
import os
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotator.faces import services
from annotator.faces.store import NewFace, faces_store
from annotator.models import Annotation
from tests.affectnet_helpers import files_of, jpeg, landmarks

FACES = 150  # three chunks of 64 for the writer processes


def _mount(target: Path, size_mb: int, work: Path) -> str:
    """Mount a small filesystem at target; return how, or raise pytest.skip.Exception with the reasons."""
    tried = []
    run = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(target)],
                         capture_output=True, text=True)
    if run.returncode == 0:
        return "tmpfs"
    tried.append(f"tmpfs: {run.stderr.strip() or run.returncode}")
    image = work / "small.ext4"
    with open(image, "wb") as handle:
        handle.truncate(size_mb * 1024 * 1024)
    steps = [["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], ["mount", "-o", "loop", str(image), str(target)]]
    for step in steps:
        try:
            run = subprocess.run(step, capture_output=True, text=True)
        except FileNotFoundError as exc:
            run = subprocess.CompletedProcess(step, 127, "", str(exc))
        if run.returncode != 0:
            tried.append(f"loop-mounted ext4 ({step[0]}): {run.stderr.strip() or run.returncode}")
            pytest.skip("cannot make a small filesystem to fill here (needs root / CAP_SYS_ADMIN to mount): "
                        + "; ".join(tried))
    return "ext4 (loop)"


@pytest.fixture
def small_fs(tmp_path):
    """A 16 MiB filesystem of its own, mounted under tmp_path, unmounted after the test."""
    target = tmp_path / "small"
    target.mkdir()
    _mount(target, 16, tmp_path)
    yield target
    if subprocess.run(["umount", str(target)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def free_bytes(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def used_bytes(folder: Path) -> int:
    """Space the files and folders under folder take on disk (what a copy of them needs)."""
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*")) + folder.stat().st_blocks * 512


def fill(folder: Path, leave: int) -> None:
    """Write a filler file until only about `leave` bytes are free."""
    chunk = b"\0" * (1 << 20)
    with open(folder / "filler", "wb") as handle:
        while free_bytes(folder) > leave + len(chunk):
            handle.write(chunk)
            handle.flush()
        rest = free_bytes(folder) - leave
        if rest > 0:
            handle.write(b"\0" * rest)
    assert free_bytes(folder) <= leave + 64 * 1024


@pytest.fixture
def labelled_faces(data_root, annotator_user):
    faces = faces_store([NewFace(jpeg(i), id=i, landmarks=landmarks(i), split="val" if i % 4 == 0 else "train",
                                 required_annotations=1)
                         for i in range(1, FACES + 1)])
    for face in faces:
        Annotation.objects.create(face=face, annotator=annotator_user, category=face.id % 8, valence=0.25,
                                  arousal=-0.5)
        services.face_refresh_final_label(face_id=face.id)
    return faces


@pytest.mark.django_db
@pytest.mark.parametrize("workers", ["1", "2"])
def test_disk_full_during_export_leaves_out_as_it_was(labelled_faces, small_fs, settings, workers):
    settings.DATA_ROOTS = [*settings.DATA_ROOTS, small_fs.resolve()]
    out = small_fs / "export"
    call_command("export_affectnet", str(out), "--csv", "--no-progress", "--workers", workers)
    before = files_of(out)
    assert len([name for name in before if name.endswith(".jpg")]) == FACES
    need = used_bytes(out)  # the new export is as large as this one
    fill(small_fs, leave=need // 2)  # room for about half of it

    with pytest.raises(CommandError) as error:
        call_command("export_affectnet", str(out), "--csv", "--force", "--no-progress", "--workers", workers)
    # Whichever process met the full disk (a writer, or this one writing the CSV), the writer processes
    # were stopped before the error came out: none is left writing into a folder being removed.
    assert multiprocessing.active_children() == []
    message = str(error.value)
    assert str(out) in message and "no space left on device" in message.lower(), message
    assert files_of(out) == before  # the earlier export, byte for byte
    assert sorted(p.name for p in small_fs.iterdir()) == ["export", "filler"]  # no partial or old folder left
    assert free_bytes(small_fs) >= need // 2 - 64 * 1024  # the partial export's space was given back

    # With room again, the same command replaces the export.
    (small_fs / "filler").unlink()
    call_command("export_affectnet", str(out), "--csv", "--force", "--no-progress", "--workers", workers)
    after = files_of(out)
    assert {k: v for k, v in after.items() if k != "manifest.json"} == {
        k: v for k, v in before.items() if k != "manifest.json"}
    assert sorted(p.name for p in small_fs.iterdir()) == ["export"]
