"""manage.py spot_checks --project SLUG (--share 0.05 | --count N) [--seed N] [--dry-run]

The spot-check page as a command (the same service): agreed faces not in review drawn at random into
the review queue with the reason "spot check", recorded in the console's history.
"""
from django.core.management.base import BaseCommand, CommandError

from annotator.domain.errors import DomainError
from annotator.projects.selectors import project_named
from reviews.selectors import spot_check_plan
from reviews.services import spot_check_words, spot_checks_add


class Command(BaseCommand):
    help = ("Put a share (or a count) of the project's faces that became final through agreement, and are not in "
            "review, into the review queue as spot checks, drawn at random with a seed.")

    def add_arguments(self, parser):
        parser.add_argument("--project", default="", metavar="SLUG",
                            help="the project (needed when the instance has several; default: its only project)")
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--share", type=float, help="share of the agreed faces, more than 0 and at most 1 (0.05: 5%%)")
        which.add_argument("--count", type=int, help="how many faces (at most all the agreed ones)")
        parser.add_argument("--seed", type=int, default=0, help="the random draw's seed (same seed, same faces)")
        parser.add_argument("--dry-run", action="store_true", help="say how many would be drawn; change nothing")

    def handle(self, *args, **options):
        try:
            project = project_named(options["project"])
        except DomainError as exc:
            raise CommandError(f"--project: {exc.message}") from None
        try:
            plan = spot_check_plan(project, share=options["share"], count=options["count"], seed=options["seed"])
        except DomainError as exc:
            raise CommandError(f"--{exc.field}: {exc.message}") from None
        if options["dry_run"]:
            self.stdout.write(f"dry run: {plan.drawn:,} of {plan.eligible:,} agreed faces of {project.slug} "
                              "would be put into the review queue; nothing changed")
            return
        flags = spot_checks_add(plan, user=None)
        self.stdout.write(self.style.SUCCESS(f"{spot_check_words(plan)} ({len(flags):,} flags opened)"))
