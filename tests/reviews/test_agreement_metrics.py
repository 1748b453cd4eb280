"""Agreement between annotators: cases worked by hand, and the same numbers as the libraries."""
import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from annotator.domain.agreement_stats import answer_pairs
from annotator.domain.metrics import (
    categorical_metrics,
    fleiss_kappa,
    inter_annotator_agreement,
    interval_alpha_units,
    nominal_alpha_units,
)

NAN = float("nan")
# Three faces, annotators 1 and 2: they agree on faces 10 and 30, not on 20.
FACES = [10, 10, 20, 20, 30, 30]
WHO = [1, 2, 1, 2, 1, 2]
CATS = [1, 1, 2, 3, 0, 0]


def test_hand_worked_categorical_agreement():
    r = inter_annotator_agreement(FACES, WHO, CATS, [0.0] * 6, [0.0] * 6)
    c = r["categorical"]
    assert (r["faces"], r["answers"], r["pairs"]) == (3, 6, 3)
    assert c["percent_agreement"] == pytest.approx(2 / 3)
    # Cohen: po = 2/3; pe = 1/3*1/3 (Neutral) + 1/3*1/3 (Happy) = 2/9; (2/3 - 2/9) / (7/9) = 4/7
    assert c["cohen_kappa_mean"] == pytest.approx(4 / 7)
    assert r["cohen_pairs"][0]["kappa"] == pytest.approx(4 / 7)
    # Fleiss: P-bar = (1 + 0 + 1)/3; p_j = 2/6, 2/6, 1/6, 1/6 -> Pe = 10/36; (24/36 - 10/36)/(26/36) = 7/13
    assert c["fleiss"] == {"kappa": pytest.approx(7 / 13), "n": 3, "raters": 2}
    # Krippendorff nominal: n = 6, observed 2/(2-1) on face 20, expected 36 - (4+4+1+1) = 26 -> 1 - 5*2/26
    assert c["alpha"] == pytest.approx(8 / 13)
    assert r["per_annotator"] == {1: {"pairs": 3, "agreement": pytest.approx(2 / 3)},
                                  2: {"pairs": 3, "agreement": pytest.approx(2 / 3)}}
    confusion = np.array(r["confusion"])
    assert confusion[2, 3] == confusion[3, 2] == 1 and confusion[1, 1] == 2 and confusion.sum() == 6


def test_hand_worked_valence_between_annotators():
    # Face 10: 0.0 vs 0.5; face 20: 1.0 vs 1.0; face 30: Uncertain has no point (NaN) and is left out.
    val = [0.0, 0.5, 1.0, 1.0, NAN, NAN]
    r = inter_annotator_agreement([10, 10, 20, 20, 30, 30], WHO, [1, 1, 1, 1, 9, 9], val, val)
    v = r["valence"]
    assert v["n"] == 2
    assert v["rmse"] == pytest.approx(np.sqrt(0.25 / 2))
    assert v["sagr"] == pytest.approx(0.5)  # sign(0) != sign(0.5)
    # interval alpha: within 2*(2*0.25 - 0.25) = 0.5; all 2*(4*2.25 - 2.5^2) = 5.5; 1 - 3*0.5/5.5
    assert v["alpha"] == pytest.approx(8 / 11)
    # CCC: x = (0, 1), y = (0.5, 1): means 0.5, 0.75; cov 0.125; var 0.25, 0.0625 -> 0.25/(0.375)
    assert v["ccc"] == pytest.approx(2 * 0.125 / (0.25 + 0.0625 + 0.0625))


def test_three_answers_make_three_pairs_and_one_disagreement_spoils_the_face():
    i, j = answer_pairs([5, 7, 5, 5])
    assert sorted(zip(i.tolist(), j.tolist())) == [(0, 2), (0, 3), (2, 3)]
    r = inter_annotator_agreement([5, 5, 5, 8], [1, 2, 3, 1], [1, 1, 2, 4], [0.1] * 4, [0.1] * 4)
    assert r["faces"] == 1 and r["pairs"] == 3
    assert r["categorical"]["percent_agreement"] == 0.0
    assert r["categorical"]["pairwise_agreement"] == pytest.approx(1 / 3)


def _random_reliability(seed, coders=4, units=40, values=None):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 5, size=(coders, units)).astype(float) if values is None else rng.uniform(-1, 1, (coders, units))
    data[rng.random(data.shape) < 0.3] = np.nan
    return data


def _as_rows(data):
    coders, units = np.nonzero(~np.isnan(data))
    return units, data[coders, units], coders


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_alphas_match_the_krippendorff_package(seed):
    nominal = _random_reliability(seed)
    units, values, _ = _as_rows(nominal)
    assert nominal_alpha_units(units, values) == pytest.approx(
        krippendorff.alpha(reliability_data=nominal, level_of_measurement="nominal"))
    interval = _random_reliability(seed, values="float")
    units, values, _ = _as_rows(interval)
    assert interval_alpha_units(units, values) == pytest.approx(
        krippendorff.alpha(reliability_data=interval, level_of_measurement="interval"))


def test_cohen_pairs_match_scikit_learn():
    data = _random_reliability(7, coders=3, units=60)
    units, values, coders = _as_rows(data)
    r = inter_annotator_agreement(units, coders + 100, values.astype(int), values, values)
    assert len(r["cohen_pairs"]) == 3
    for pair in r["cohen_pairs"]:
        a, b = pair["annotators"][0] - 100, pair["annotators"][1] - 100
        both = ~np.isnan(data[a]) & ~np.isnan(data[b])
        assert pair["n"] == both.sum()
        assert pair["kappa"] == pytest.approx(cohen_kappa_score(data[a][both], data[b][both]))


def test_fleiss_uses_the_faces_with_the_usual_number_of_answers():
    # Four double-answered faces and one with three answers: Fleiss takes the four.
    faces = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 5]
    cats = [0, 0, 1, 1, 0, 1, 2, 2, 0, 1, 2]
    r = fleiss_kappa(faces, cats, num_categories=11)
    assert (r["n"], r["raters"]) == (4, 2)
    # P-bar = 3/4; p = (3/8, 3/8, 2/8) -> Pe = 22/64; (48/64 - 22/64) / (42/64) = 26/42
    assert r["kappa"] == pytest.approx(26 / 42)


def test_no_shared_faces_gives_empty_measures():
    r = inter_annotator_agreement([1, 2], [1, 1], [0, 1], [0.1, 0.2], [0.1, 0.2])
    assert r["faces"] == 0 and r["categorical"]["percent_agreement"] is None
    assert r["categorical"]["alpha"] is None and r["valence"]["rmse"] is None


def test_categorical_alpha_matches_the_package():
    truth = np.array([0, 1, 2, 1, 0, 2, 2])
    probs = np.eye(3)[[0, 1, 1, 1, 2, 2, 0]]
    m = categorical_metrics(truth, probs, labels=[0, 1, 2])
    expected = krippendorff.alpha(reliability_data=np.vstack([truth, probs.argmax(1)]).astype(float),
                                  level_of_measurement="nominal")
    assert m["alpha"] == pytest.approx(expected)
