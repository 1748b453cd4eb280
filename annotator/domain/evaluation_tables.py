"""The seed's evaluation tables as text, and the numbers they are read against (Django-free).

The seed (AffectNet) reports, on its validation set, ACC, F1, Cohen's kappa, Krippendorff's alpha,
AUC-PR and AUC for the categories, and RMSE, CORR, SAGR and CCC for valence and arousal. The
results come from annotator.training.evaluation; training, the `evaluate` command, the dashboard
and the review pages print or draw them with these rows and baseline, so all show the same table.
"""
from collections.abc import Sequence

# The seed's validation baseline (weighted-loss column for the categories, the best); see
# docs/affectnet-format.md.
SEED_BASELINE = {
    "categorical": {"acc": 0.58, "f1": 0.58, "kappa": 0.51, "alpha": 0.51, "auc_pr": 0.56, "auc": 0.82},
    "valence": {"rmse": 0.37, "corr": 0.66, "sagr": 0.74, "ccc": 0.60},
    "arousal": {"rmse": 0.41, "corr": 0.54, "sagr": 0.65, "ccc": 0.34},
}
# The seed's two tables: (row label, key in the result).
CATEGORICAL_ROWS = (
    ("ACC", "acc"),
    ("F1", "f1"),
    ("KAPPA", "kappa"),
    ("ALPHA", "alpha"),
    ("AUCPR", "auc_pr"),
    ("AUC", "auc"),
)
DIMENSIONAL_ROWS = (("RMSE", "rmse"), ("CORR", "corr"), ("SAGR", "sagr"), ("CCC", "ccc"))


def number(value, places: int = 2) -> str:
    """Return a measure as table text: '-' where it could not be computed, no '-0.00'."""
    if value is None:
        return "-"
    text = f"{value:.{places}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def text_table(header: Sequence, rows: Sequence[Sequence]) -> str:
    """Return rows as aligned text: the first column to the left, the others to the right."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i]) for i, cell in enumerate(row))
        for row in [header, *rows]
    )


def interval_text(interval, places: int = 2) -> str:
    """Return a 95% interval as table text ('[0.55,0.69]', a minus sign never read as a dash), '-' where
    there is none."""
    if interval is None:
        return "-"
    return f"[{number(interval[0], places)},{number(interval[1], places)}]"


def _cell(table: dict, part: str, key: str) -> str:
    """Return a measure as text, starred when its part has too few faces to mean anything."""
    text = number(table[part][key])
    meaningful = table.get("meaningful", {}).get(part, True)
    return text if meaningful or text == "-" else f"{text}*"


def _interval(table: dict, part: str, key: str) -> str:
    return interval_text((table.get("intervals") or {}).get(part, {}).get(key))


def seed_tables(table: dict, *, title: str = "this model") -> str:
    """Return the seed's two tables for one model's results: each measure with its 95% bootstrap
    interval, the seed's baseline beside it, its n in the heading, and a star where n is too small."""
    base = SEED_BASELINE
    categorical = [[label, _cell(table, "categorical", key), _interval(table, "categorical", key),
                    number(base["categorical"][key])] for label, key in CATEGORICAL_ROWS]
    dimensional = [
        [label, _cell(table, "valence", key), _interval(table, "valence", key), number(base["valence"][key]),
         _cell(table, "arousal", key), _interval(table, "arousal", key), number(base["arousal"][key])]
        for label, key in DIMENSIONAL_ROWS
    ]
    lines = [
        f"Categorical model (n={table['categorical']['n']}):",
        text_table(["", title, "95% interval", "seed baseline"], categorical),
        "",
        f"Dimensional model (n={table['valence']['n']} faces with a valence/arousal point):",
        text_table(["", "Valence", "95% interval", "seed", "Arousal", "95% interval", "seed"], dimensional),
    ]
    if "resamples" in table:
        lines += ["", f"Intervals: 95% percentile bootstrap over {table['resamples']} resamples of the faces."]
    if not all(table.get("meaningful", {}).values()):
        lines.append(f"* not meaningful: fewer than {table.get('min_n', 0)} faces (EVALUATION_MIN_N)")
    return "\n".join(lines)


def format_seed_table(table: dict, *, title: str = "this model") -> str:
    """Return an evaluate_predictions() result as the seed's tables, under a line saying what was scored."""
    head = (
        f"Evaluated on {table['categorical']['n']} faces of categories "
        f"{','.join(map(str, table['categories']))} ({table['valence']['n']} with valence/arousal)"
    )
    return f"{head}\n\n{seed_tables(table, title=title)}"


def _ranges(values) -> str:
    values = list(values)
    if values and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]}"
    return ",".join(map(str, values))


# How suggester_evaluate's "sources" read in the heading.
SOURCE_WORDS = {"single": "one blind annotator", "agreement": "agreeing annotators, one blind",
                "review": "reviewer", "import": "imported", "gold": "gold"}


def format_evaluation(result: dict) -> str:
    """Return a suggester_evaluate() result as the seed's two tables, under lines naming model and split,
    what the faces are, and how many were left out or are still without a prediction."""
    c = result["categorical"]
    sources = ", ".join(f"{SOURCE_WORDS.get(k, k)} {n}" for k, n in result.get("sources", {}).items() if n)
    head = [
        f"Model {result['model']} on split {result['split']}, categories {_ranges(result.get('categories', []))}: "
        f"{c['n']} faces scored.",
        f"Evaluation faces (final label independent of the model's suggestion): {result['faces']}"
        + (f" ({sources})" if sources else ""),
        f"Left out, their label rests on answers given with a suggestion in view: {result.get('left_out', 0)}",
        f"Pending, no prediction of this model yet: {result.get('pending', 0)}",
    ]
    return "\n".join(head) + f"\n\n{seed_tables(result)}"
