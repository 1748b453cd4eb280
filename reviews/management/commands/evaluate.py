"""python manage.py evaluate [--project SLUG] [--split val] [--model NAME:VERSION] [--categories 0-7] [--now | --no-queue] [--save]"""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotator.domain.categories import parse_categories
from annotator.domain.evaluation_tables import format_evaluation
from annotator.models import Split
from annotator.projects.selectors import ProjectNeeded, ProjectNotFound, project_named
from annotator.training.selectors import suggester_evaluate
from annotator.training.services import evaluation_predictions_complete
from reviews.evaluation import SuggesterNotFound, suggester_by_spec


class Command(BaseCommand):
    help = (
        "Print the seed's table, with n and 95% bootstrap intervals, for a model (default: the active one; "
        "any recorded one) against the final labels of a split that are independent of its suggestions. "
        "Its missing predictions on those faces are queued on the model queue, or computed here with --now."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", default="", metavar="SLUG",
                            help="Whose faces and active model (needed only when the instance has several projects)")
        parser.add_argument("--split", default=Split.VAL, choices=[*Split.values, "all"],
                            help="Which faces' final labels to compare with (default: val)")
        parser.add_argument("--model", default="", metavar="NAME:VERSION",
                            help="The suggester to evaluate (default: the active one)")
        parser.add_argument("--categories", default="0-10", metavar="0-7",
                            help="Only these final categories, the model choosing among them (the seed's table is 0-7)")
        parser.add_argument("--now", action="store_true",
                            help="compute the model's missing predictions here, before the table (no worker needed)")
        parser.add_argument("--no-queue", action="store_true",
                            help="do not queue the missing predictions; score the faces predicted already")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar with --now")
        parser.add_argument("--save", action="store_true", help="Store the result in the suggester's evaluation")

    def handle(self, *args, project, split, model, categories, now, no_queue, no_progress, save, **options):
        if now and no_queue:
            raise CommandError("--now and --no-queue: choose one")
        try:
            project = project_named(project)
            suggester = suggester_by_spec(model, project)
            chosen = parse_categories(categories)
        except (ProjectNeeded, ProjectNotFound) as exc:
            raise CommandError(f"--project: {exc.message}") from None
        except (SuggesterNotFound, ValueError) as exc:
            raise CommandError(str(exc)) from None
        split = None if split == "all" else split
        if not no_queue:
            self._predict_missing(suggester, split, chosen, project, now=now, progress=not no_progress)
        result = suggester_evaluate(suggester, split, chosen, projects=[project])
        self.stdout.write(format_evaluation(result))
        if result["pending"]:
            self.stdout.write(self.style.WARNING(
                f"{result['pending']} evaluation faces still have no prediction of this model and are not in the "
                "table" + ("" if now else ": run again once the model queue has done them, or add --now")))
        if save:
            suggester.evaluation = {**suggester.evaluation, result["split"]: result}
            suggester.save(update_fields=["evaluation"])
            self.stdout.write(f"Saved in {suggester}'s evaluation.")

    def _predict_missing(self, suggester, split, categories, project, *, now, progress):
        from tqdm import tqdm

        bar = tqdm(unit="face", desc="predicting", disable=not (now and progress), file=self.stderr)
        try:
            done = evaluation_predictions_complete(suggester=suggester, split=split, categories=categories, now=now,
                                                   progress=bar.update, project=project)
        finally:
            bar.close()
        if not done.pending:
            return
        if now:
            self.stdout.write(f"Predicted {done.computed} of {done.pending} evaluation faces that lacked a "
                              f"prediction of {suggester} (here, with --now).")
            return
        self.stdout.write(
            f"Queued {done.queued} of {done.pending} evaluation faces that lack a prediction of {suggester} on the "
            f"model queue ({settings.CELERY_MODEL_QUEUE!r})."
            + (f" {done.unsent} could not be queued (is the broker up?)." if done.unsent else ""))
