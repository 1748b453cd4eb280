"""The measures, against cases worked by hand."""
import numpy as np
import pytest

from annotator.domain.metrics import categorical_metrics, dimensional_metrics


def test_dimensional_metrics_hand_worked():
    truth = [0.5, -0.5, 0.0, 1.0]
    pred = [0.5, 0.5, 0.0, 0.5]
    m = dimensional_metrics(truth, pred)
    # squared errors 0, 1, 0, 0.25 -> mean 0.3125
    assert m["rmse"] == pytest.approx(np.sqrt(0.3125))
    # signs: +/+ , -/+ , 0/0 , +/+ -> 3 of 4 agree
    assert m["sagr"] == pytest.approx(0.75)
    # means 0.25 and 0.375; cov = mean((t-0.25)(p-0.375)) = (0.03125-0.09375+0.09375+0.09375)/4
    cov = (0.25 * 0.125 + (-0.75) * 0.125 + (-0.25) * (-0.375) + 0.75 * 0.125) / 4
    var_t, var_p = np.var(truth), np.var(pred)
    assert m["ccc"] == pytest.approx(2 * cov / (var_t + var_p + 0.125**2))
    assert m["corr"] == pytest.approx(np.corrcoef(truth, pred)[0, 1])


def test_perfect_predictions_score_one():
    truth = np.array([0, 1, 2, 1, 0])
    probs = np.eye(3)[truth] * 0.9 + 0.05
    m = categorical_metrics(truth, probs, labels=[0, 1, 2])
    assert m["acc"] == m["f1"] == m["kappa"] == m["auc"] == m["auc_pr"] == pytest.approx(1.0)
    assert m["alpha"] == pytest.approx(1.0)


def test_categorical_hand_worked_kappa():
    # 4 items, 2 right: po = 0.5; pe from marginals: truth (0,0,1,1), pred (0,1,1,0) -> 0.5*0.5*2 = 0.5; kappa 0
    truth = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    m = categorical_metrics(truth, probs, labels=[0, 1])
    assert m["acc"] == pytest.approx(0.5)
    assert m["kappa"] == pytest.approx(0.0)
