"""manage.py import_images DIR: raw photos to faces (detect, expand 15%, 224x224 crop, 68 landmarks)."""
from concurrent.futures.process import BrokenProcessPool

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotator.common.paths import PathNotAllowed
from annotator.common.progress import progress_bar
from annotator.management.commands._io_common import add_project_option, command_project
from annotator.models import Split
from annotator.photos.detection import DETECTORS, DetectorUnavailable
from annotator.photos.services import photos_import


class Command(BaseCommand):
    help = (
        "Find the faces in every photo under DIR (sub-folders too) and store each as a 224x224 crop with "
        "68 landmarks, in the --project project. Photos seen before (in that project) are skipped. Exits non-zero when any file was bad input "
        "(a photo with no face is reported, not an error)."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", metavar="DIR")
        parser.add_argument("--no-face-as-candidates", action="store_true",
                            help="Store a photo with no face as a face suggested No-Face, for annotators to confirm")
        parser.add_argument("--split", choices=Split.values, default=Split.UNASSIGNED)
        parser.add_argument("--workers", type=int, default=0, help="Processes (default: PHOTO_IMPORT_WORKERS, "
                                                                   "else one per core)")
        parser.add_argument("--detector", choices=DETECTORS, default=None,
                            help=f"Face detector (default: the FACE_DETECTOR setting, now {settings.FACE_DETECTOR})")
        parser.add_argument("--batch-size", type=int, default=64, help="Photos per database transaction")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        add_project_option(parser)

    def handle(self, *args, folder, no_face_as_candidates, split, workers, detector, batch_size, no_progress,
               project="", **options):
        project = command_project(project)
        bar = progress_bar(unit="photo", desc="photos", disable=no_progress or options["verbosity"] == 0)
        suffix = " (stored as a No-Face candidate)" if no_face_as_candidates else ""

        def report(kind, text):
            # Printed as it happens (above the bar), so a long run's problems show at once.
            with progress_bar.external_write_mode():
                if kind in ("bad", "warning"):
                    self.stderr.write(f"{kind}: {text}")
                else:
                    self.stdout.write(f"no face: {text}{suffix}")

        try:
            summary = photos_import(folder=folder, workers=workers or None, detector=detector, split=split,
                                    no_face_as_candidates=no_face_as_candidates, batch_size=batch_size,
                                    progress=bar.update, report=report, project=project)
        except (PathNotAllowed, DetectorUnavailable, ValueError) as exc:
            raise CommandError(str(exc)) from None
        except BrokenProcessPool:
            raise CommandError(
                "a worker process died (out of memory, or a crash in OpenCV/dlib); the faces stored so far are "
                "kept and a new run skips the photos already imported"
            ) from None
        finally:
            bar.close()
        self.stdout.write(summary.line(no_face_as_candidates))
        if summary.bad_count:
            raise CommandError(f"{summary.bad_count} file(s) skipped as bad input (listed above); the rest was imported")
