"""manage.py assign_splits --project SLUG --shares train=0.9,val=0.1 [--faces unassigned|all] [--seed N]
                          [--dry-run] [--expect-digest DIGEST] [--by USERNAME]

The console's splits page as a command (the same service): the faces of the chosen set divided by the
shares, stratified by category, grouped by source photo; prints the counts per split and per category,
then writes them in one transaction (unless --dry-run) and records it in the console's history.
The page's "Apply" runs this command as a console job, with the digest of the plan the lead previewed
(--expect-digest): when the faces changed since, it writes nothing and says to preview again.
"""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotator.domain.errors import DomainError
from annotator.domain.splitting import shares_parse
from annotator.management.commands._io_common import add_project_option, command_project
from annotator.splits.selectors import FACE_SETS, FACES_UNASSIGNED, SPLITS, split_plan
from annotator.splits.services import PlanChanged, splits_apply


def stale_preview(expected: str) -> CommandError:
    return CommandError(f"--expect-digest: the faces changed since the preview (plan {expected}); nothing was "
                        "written: preview again, then apply the new preview")


def plan_table(plan) -> list[str]:
    """The preview as text lines: per category, the faces in each split and the split's share of it."""
    head = f"{'category':<12} | {'faces':>9} | " + " | ".join(f"{name:>16}" for name in SPLITS)
    lines = [head, "-" * len(head)]
    for row in [*plan.rows(), {"name": "all", "faces": plan.total, "counts": list(plan.counts.values()),
                               "shares": [c / plan.total if plan.total else 0.0 for c in plan.counts.values()]}]:
        cells = " | ".join(f"{count:>8,} ({100 * share:5.1f}%)" for count, share in zip(row["counts"], row["shares"], strict=True))
        lines.append(f"{row['name']:<12} | {row['faces']:>9,} | {cells}")
    asked = ", ".join(f"{name} {100 * plan.shares[name]:g}%" for name in SPLITS)
    lines.append(f"asked: {asked}; largest share error {100 * plan.largest_share_error:.2f} points; "
                 f"{plan.changed:,} faces change split; {plan.pinned:,} follow their photo's other faces")
    return lines


class Command(BaseCommand):
    help = ("Assign the project's faces to train/val by shares, stratified by category (final label, else the "
            "model's suggestion, else unlabelled) and grouped by source photo; prints the counts, then applies them.")

    def add_arguments(self, parser):
        add_project_option(parser, "the project whose faces are assigned")
        parser.add_argument("--shares", required=True, metavar="SPLIT=SHARE,...",
                            help="e.g. train=0.9,val=0.1 (or train=90,val=10); they add up to 1 (or 100)")
        parser.add_argument("--faces", choices=tuple(FACE_SETS), default=FACES_UNASSIGNED,
                            help="unassigned: the faces in no split yet (default); all: every face of the project")
        parser.add_argument("--seed", type=int, default=0, help="the random order's seed (same seed, same result)")
        parser.add_argument("--dry-run", action="store_true", help="print the counts only; change nothing")
        parser.add_argument("--expect-digest", metavar="DIGEST", default=None,
                            help="apply only if the plan is still the one previewed with this digest (the console's "
                                 "preview shows it); else write nothing and fail")
        parser.add_argument("--by", metavar="USERNAME", default=None,
                            help="the admin the console's history names for this assignment (the console's job: "
                                 "the one who applied it)")

    def handle(self, *args, **options):
        project = command_project(options["project"])
        user = None
        if options["by"]:
            user = get_user_model().objects.filter(username=options["by"]).first()
            if user is None:
                raise CommandError(f"--by: no user {options['by']!r}")
        try:
            plan = split_plan(project, shares_parse(options["shares"], SPLITS), faces=options["faces"],
                              seed=options["seed"])
        except DomainError as exc:
            raise CommandError(f"--{exc.field or 'shares'}: {exc.message}") from None
        for line in plan_table(plan):
            self.stdout.write(line)
        self.stdout.write(f"plan digest: {plan.digest}")
        if options["dry_run"]:
            self.stdout.write("dry run: nothing changed")
            return
        expected = options["expect_digest"]
        if expected is not None and expected != plan.digest:
            raise stale_preview(expected)
        try:
            # splits_apply plans again under the project's lock: a change since the plan above is refused too.
            summary = splits_apply(plan, user=user, expected_digest=expected)
        except PlanChanged:
            raise stale_preview(expected) from None
        self.stdout.write(self.style.SUCCESS(f"applied: {summary['changed']:,} faces changed split in {project.slug}"))
