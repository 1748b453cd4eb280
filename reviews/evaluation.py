"""Annotators against each other (agreement), with the AffectNet paper's numbers beside ours.

A suggester against final labels is annotator.training.selectors.suggester_evaluate, printed by
annotator.domain.evaluation_tables.format_evaluation; format_agreement() prints the agreement.
"""

from django.contrib.auth import get_user_model

from annotator.domain.evaluation_tables import DIMENSIONAL_ROWS, number, text_table
from annotator.models import Project

# The evaluate command and the API take these from here; suggestions.selectors owns them.
from annotator.suggestions.selectors import SuggesterNotFound, suggester_by_spec  # noqa: F401
from reviews import aggregates

# The AffectNet paper's agreement between two annotators (sec. 3.3 and table 3 of Mollahosseini
# et al. 2017).
PAPER_AGREEMENT = {
    "categorical": {"percent_agreement": 0.607},
    "valence": {"rmse": 0.34},
    "arousal": {"rmse": 0.36},
}




def agreement(*, splits=None, scope=None, seconds=None) -> dict:
    """Return the agreement between annotators on faces with two or more answers, in the projects of
    `scope` (a set of project ids; None: all), of `splits` (None: all): merged from the per-block
    partials (reviews.aggregates), computing only the blocks changed since they were kept (seconds: a
    request's limit; aggregates.FiguresPending past it)."""
    projects = Project.objects.order_by("id") if scope is None else Project.objects.filter(pk__in=scope).order_by("id")
    partials, _, _ = aggregates.block_partials(projects, ("agreement",), seconds=seconds)
    result = aggregates.agreement_of([p for per_block in partials.values() for p in per_block], splits=splits)
    ids = sorted({a for p in result["cohen_pairs"] for a in p["annotators"]} | set(result["per_annotator"]))
    result["names"] = dict(get_user_model().objects.filter(id__in=ids).values_list("id", "username"))
    return result


def format_agreement(result: dict) -> str:
    """Return the agreement tables, the AffectNet paper's numbers beside ours where it gives them."""
    c, paper = result["categorical"], PAPER_AGREEMENT
    fleiss = c["fleiss"]
    lines = [
        f"Agreement between annotators: {result['faces']} faces with two or more answers "
        f"({result['answers']} answers, {result['pairs']} answer pairs)",
        "",
        "Categorical:",
        text_table(["", "this data", "AffectNet paper"], [
            ["percent agreement (all answers same)", number(c["percent_agreement"], 3),
             number(paper["categorical"]["percent_agreement"], 3)],
            ["pairwise agreement", number(c["pairwise_agreement"]), "-"],
            ["Cohen's kappa (pairs, weighted mean)", number(c["cohen_kappa_mean"]), "-"],
            [f"Fleiss' kappa ({fleiss['n']} faces x {fleiss['raters'] or 0})", number(fleiss["kappa"]), "-"],
            ["Krippendorff's alpha (nominal)", number(c["alpha"]), "-"],
        ]),
        "",
        "Dimensional (pairs where both answers carry a point):",
        text_table(["", "Valence", "paper", "Arousal", "paper"], [
            [label, number(result["valence"][key]), number(paper["valence"].get(key)),
             number(result["arousal"][key]), number(paper["arousal"].get(key))]
            for label, key in (*DIMENSIONAL_ROWS, ("ALPHA (interval)", "alpha"))
        ]),
    ]
    names = result.get("names", {})
    if result["cohen_pairs"]:
        lines += ["", "Cohen's kappa per pair of annotators:",
                  text_table(["annotators", "faces", "agreement", "kappa"],
                             [[" / ".join(names.get(a, str(a)) for a in p["annotators"]), p["n"],
                               number(p["agreement"]), number(p["kappa"])] for p in result["cohen_pairs"]])]
    return "\n".join(lines)
