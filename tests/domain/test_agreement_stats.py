"""Agreement from per-block sums: partials of blocks of whole faces, merged in any order, give what
inter_annotator_agreement gives over every answer; the libraries agree with the sums."""
import json

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from annotator.domain.agreement_stats import agreement_finalize, agreement_merge, agreement_partial, answer_pairs
from annotator.domain.metrics import dimensional_metrics, fleiss_kappa, inter_annotator_agreement

NAN = float("nan")


def assert_same(got, expected, path="result"):
    """Equal, with floats compared approximately (they are summed in another order) and everything else
    exactly, None and the types included."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and set(got) == set(expected), (path, sorted(set(got) ^ set(expected)))
        for key in expected:
            assert_same(got[key], expected[key], f"{path}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert type(got) is type(expected) and len(got) == len(expected), (path, got, expected)
        for n, (g, e) in enumerate(zip(got, expected)):
            assert_same(g, e, f"{path}[{n}]")
    elif isinstance(expected, float):
        assert isinstance(got, float) and got == pytest.approx(expected, rel=1e-9, abs=1e-12), (path, got, expected)
    else:
        assert got == expected and type(got) is type(expected), (path, got, expected)


def random_answers(seed, faces=400, annotators=7, categories=11):
    """2-4 answers a face (and some faces with one), by distinct annotators, rows shuffled; valence on a
    0.05 grid (ties, zeros for SAGR), NaN where a category has no point."""
    rng = np.random.default_rng(seed)
    rows = []
    for face in rng.permutation(10 * faces)[:faces]:
        m = rng.choice([1, 2, 2, 3, 4])
        for who in rng.choice(annotators, size=m, replace=False):
            rows.append((face, 100 + who, rng.integers(0, categories)))
    rows = np.array(rows)[rng.permutation(len(rows))]
    n = len(rows)
    valence = np.round(rng.uniform(-1, 1, n) / 0.05) * 0.05
    arousal = rng.uniform(-1, 1, n)
    valence[rng.random(n) < 0.2] = NAN
    arousal[rng.random(n) < 0.3] = NAN
    return rows[:, 0], rows[:, 1], rows[:, 2], valence, arousal


def block_partials(answers, blocks, rng, num_categories=11):
    """Partials of the answers split into `blocks` random blocks of whole faces (rows in their order)."""
    faces = np.unique(answers[0])
    block_of_face = dict(zip(faces.tolist(), rng.integers(0, blocks, faces.size).tolist()))
    block = np.array([block_of_face[f] for f in answers[0].tolist()], dtype=np.int64)
    return [agreement_partial(*(column[block == b] for column in answers), num_categories=num_categories)
            for b in range(blocks)]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_merged_blocks_give_the_agreement_of_all_answers(seed):
    rng = np.random.default_rng(100 + seed)
    answers = random_answers(seed, categories=4 if seed % 2 else 11)
    expected = inter_annotator_agreement(*answers)
    partials = block_partials(answers, blocks=9, rng=rng)
    partials.append(agreement_partial([], [], [], [], []))  # a block with no faces
    order = rng.permutation(len(partials))
    assert_same(agreement_finalize(agreement_merge([partials[n] for n in order])), expected)
    # Associative: merging merges is merging the blocks.
    halves = agreement_merge([agreement_merge(partials[:4]), agreement_merge(partials[4:])])
    assert_same(agreement_finalize(halves), expected)
    # Through JSON (as a cache may keep them) and back.
    kept = [json.loads(json.dumps(p, default=lambda a: a.tolist())) for p in partials]
    assert_same(agreement_finalize(agreement_merge(kept)), expected)
    # min_pair_items applies at the end.
    assert_same(agreement_finalize(agreement_merge(partials), min_pair_items=40),
                inter_annotator_agreement(*answers, min_pair_items=40))


def test_the_counts_of_merged_blocks_are_exact():
    rng = np.random.default_rng(5)
    answers = random_answers(5)
    faces, per_face = np.unique(answers[0], return_counts=True)
    r = agreement_finalize(agreement_merge(block_partials(answers, blocks=6, rng=rng)))
    shared = per_face >= 2
    assert r["faces"] == int(shared.sum()) and r["answers"] == int(per_face[shared].sum())
    assert r["pairs"] == int(np.sum(per_face * (per_face - 1) // 2)) == answer_pairs(answers[0])[0].size
    assert sum(p["pairs"] for p in r["per_annotator"].values()) == 2 * r["pairs"]
    assert np.array(r["confusion"]).sum() == 2 * r["pairs"]


@pytest.mark.parametrize("seed", [11, 12])
def test_the_sums_give_what_the_libraries_give(seed):
    """Cohen's kappa per pair of annotators (scikit-learn), Fleiss (statsmodels through metrics.fleiss_kappa),
    both alphas (the krippendorff package, annotators as coders) and the valence measures
    (metrics.dimensional_metrics over the answer pairs). The rows are shuffled: a pair's later answer is
    as often the lower annotator's as not."""
    faces, who, cats, valence, arousal = answers = random_answers(seed, faces=150, annotators=5)
    r = agreement_finalize(agreement_merge(block_partials(answers, blocks=5, rng=np.random.default_rng(seed))))
    c = r["categorical"]
    units, unit_col = np.unique(faces, return_inverse=True)
    coder = who - 100
    matrix = np.full((5, units.size), -1)
    matrix[coder, unit_col] = cats
    shared = {(a, b): (matrix[a] >= 0) & (matrix[b] >= 0) for a in range(5) for b in range(a + 1, 5)}
    assert [p["annotators"] for p in r["cohen_pairs"]] == [(100 + a, 100 + b) for (a, b), both in shared.items()
                                                           if both.sum() >= 2]
    for p in r["cohen_pairs"]:
        a, b = p["annotators"][0] - 100, p["annotators"][1] - 100
        both = shared[a, b]
        assert p["n"] == both.sum() and p["agreement"] == pytest.approx(np.mean(matrix[a][both] == matrix[b][both]))
        assert p["kappa"] == pytest.approx(cohen_kappa_score(matrix[a][both], matrix[b][both]))
    sm = fleiss_kappa(faces, cats, num_categories=11)
    assert (c["fleiss"]["n"], c["fleiss"]["raters"]) == (sm["n"], sm["raters"])
    assert c["fleiss"]["kappa"] == pytest.approx(sm["kappa"])

    for values, level, got in ((cats.astype(float), "nominal", c["alpha"]), (valence, "interval", r["valence"]["alpha"]),
                               (arousal, "interval", r["arousal"]["alpha"])):
        matrix = np.full((5, units.size), NAN)
        matrix[coder, unit_col] = values
        assert got == pytest.approx(krippendorff.alpha(reliability_data=matrix, level_of_measurement=level))

    i, j = answer_pairs(faces)
    both = ~np.isnan(valence[i]) & ~np.isnan(valence[j])
    expected = dimensional_metrics(valence[i][both], valence[j][both])
    assert {k: r["valence"][k] for k in expected} == pytest.approx(expected)


def test_fleiss_takes_the_smaller_number_of_answers_on_a_tie():
    # Two faces with two answers, two with three: Fleiss uses the two-answer faces, as np.bincount().argmax().
    faces = [1, 1, 2, 2, 3, 3, 3, 4, 4, 4]
    cats = [0, 0, 0, 1, 2, 2, 2, 0, 1, 2]
    parts = [agreement_partial(faces[:4], [1, 2] * 2, cats[:4], [0.0] * 4, [0.0] * 4),
             agreement_partial(faces[4:], [1, 2, 3] * 2, cats[4:], [0.0] * 6, [0.0] * 6)]
    fleiss = agreement_finalize(agreement_merge(parts[::-1]))["categorical"]["fleiss"]
    assert (fleiss["n"], fleiss["raters"]) == (2, 2)
    assert fleiss == fleiss_kappa(faces, cats, num_categories=11) | {"kappa": pytest.approx(fleiss["kappa"])}


def test_no_answers_give_empty_measures():
    empty = agreement_finalize(agreement_partial([], [], [], [], []))
    assert empty == inter_annotator_agreement(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
    assert (empty["faces"], empty["answers"], empty["pairs"]) == (0, 0, 0)
    assert empty["categorical"] == {"percent_agreement": None, "pairwise_agreement": None, "cohen_kappa_mean": None,
                                    "fleiss": {"kappa": None, "n": 0, "raters": None}, "alpha": None}
    assert empty["cohen_pairs"] == [] and empty["per_annotator"] == {} and empty["confusion"] == [[0] * 11] * 11
    assert empty["valence"] == {"rmse": None, "corr": None, "sagr": None, "ccc": None, "n": 0, "alpha": None}


def test_unanimous_answers_leave_kappas_and_alphas_undefined():
    # Three faces, everyone says Happy at valence 0.7. np.std([0.7] * 3) is not 0 but 1e-16, so
    # dimensional_metrics over these pairs reports CORR and CCC 1.0 from rounding noise; the sums' min
    # and max tell "all equal" exactly. Arousal differs, so its measures are defined.
    faces, who = [1, 1, 2, 2, 3, 3], [4, 5, 4, 5, 4, 5]
    r = agreement_finalize(agreement_merge([
        agreement_partial(faces[:2], who[:2], [1, 1], [0.7, 0.7], [0.2, 0.5]),
        agreement_partial(faces[2:], who[2:], [1] * 4, [0.7] * 4, [-0.3, -0.1, 0.4, 0.4])]))
    c = r["categorical"]
    assert c["percent_agreement"] == 1.0 and c["pairwise_agreement"] == 1.0
    assert c["cohen_kappa_mean"] is None and r["cohen_pairs"][0]["kappa"] is None
    assert c["fleiss"] == {"kappa": None, "n": 3, "raters": 2} and c["alpha"] is None
    assert r["valence"] == {"rmse": 0.0, "corr": None, "sagr": 1.0, "ccc": None, "n": 3, "alpha": None}
    assert r["arousal"]["alpha"] is not None and r["arousal"]["ccc"] is not None and r["arousal"]["corr"] is not None


def test_a_pair_of_annotators_below_min_pair_items_has_no_kappa_but_counts_for_them():
    r = agreement_finalize(agreement_partial([1, 1], [8, 9], [2, 3], [0.1, 0.2], [0.1, 0.2]), min_pair_items=2)
    assert r["cohen_pairs"] == [] and r["categorical"]["cohen_kappa_mean"] is None
    assert r["per_annotator"] == {8: {"pairs": 1, "agreement": 0.0}, 9: {"pairs": 1, "agreement": 0.0}}
    assert r["pairs"] == 1 and r["categorical"]["pairwise_agreement"] == 0.0
    kept = agreement_finalize(agreement_partial([1, 1], [8, 9], [2, 3], [0.1, 0.2], [0.1, 0.2]), min_pair_items=1)
    assert kept["cohen_pairs"] == [{"annotators": (8, 9), "n": 1, "agreement": 0.0, "kappa": pytest.approx(0.0)}]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="categories must lie in 0..10"):
        agreement_partial([1, 1], [1, 2], [0, 11], [0.0, 0.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="valences has 1 rows"):
        agreement_partial([1, 1], [1, 2], [0, 1], [0.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="num_categories"):
        agreement_merge([agreement_partial([], [], [], [], []), agreement_partial([], [], [], [], [], num_categories=8)])
    with pytest.raises(ValueError, match="no partials"):
        agreement_merge([])
