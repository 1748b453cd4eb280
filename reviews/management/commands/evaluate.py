"""python manage.py evaluate [--split val] [--model NAME:VERSION] [--save]"""
from django.core.management.base import BaseCommand, CommandError

from annotator.models import Split
from reviews.evaluation import SuggesterNotFound, evaluate_suggester, format_evaluation, suggester_by_spec


class Command(BaseCommand):
    help = "Print the seed's baseline table for a model (default: the active one) against a split's final labels."

    def add_arguments(self, parser):
        parser.add_argument("--split", default=Split.VAL, choices=[*Split.values, "all"],
                            help="Which faces' final labels to compare with (default: val)")
        parser.add_argument("--model", default="", metavar="NAME:VERSION",
                            help="The suggester to evaluate (default: the active one)")
        parser.add_argument("--save", action="store_true", help="Store the result in the suggester's evaluation")

    def handle(self, *args, split, model, save, **options):
        try:
            suggester = suggester_by_spec(model)
        except SuggesterNotFound as exc:
            raise CommandError(str(exc)) from None
        result = evaluate_suggester(suggester, None if split == "all" else split)
        self.stdout.write(format_evaluation(result))
        if save:
            suggester.evaluation = {**suggester.evaluation, result["split"]: result}
            suggester.save(update_fields=["evaluation"])
            self.stdout.write(f"Saved in {suggester}'s evaluation.")
