"""python manage.py evaluate [--split val] [--model NAME:VERSION] [--categories 0-7] [--save]"""
from django.core.management.base import BaseCommand, CommandError

from annotator.domain.categories import parse_categories
from annotator.domain.evaluation_tables import format_evaluation
from annotator.models import Split
from annotator.training.selectors import suggester_evaluate
from reviews.evaluation import SuggesterNotFound, suggester_by_spec


class Command(BaseCommand):
    help = "Print the seed's baseline table for a model (default: the active one) against a split's final labels."

    def add_arguments(self, parser):
        parser.add_argument("--split", default=Split.VAL, choices=[*Split.values, "all"],
                            help="Which faces' final labels to compare with (default: val)")
        parser.add_argument("--model", default="", metavar="NAME:VERSION",
                            help="The suggester to evaluate (default: the active one)")
        parser.add_argument("--categories", default="0-10", metavar="0-7",
                            help="Only these final categories, the model choosing among them (the seed's table is 0-7)")
        parser.add_argument("--save", action="store_true", help="Store the result in the suggester's evaluation")

    def handle(self, *args, split, model, categories, save, **options):
        try:
            suggester = suggester_by_spec(model)
            chosen = parse_categories(categories)
        except (SuggesterNotFound, ValueError) as exc:
            raise CommandError(str(exc)) from None
        result = suggester_evaluate(suggester, None if split == "all" else split, chosen)
        self.stdout.write(format_evaluation(result))
        if save:
            suggester.evaluation = {**suggester.evaluation, result["split"]: result}
            suggester.save(update_fields=["evaluation"])
            self.stdout.write(f"Saved in {suggester}'s evaluation.")
