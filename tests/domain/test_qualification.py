"""The calibration and pause rules, without Django."""
import math

from annotator.domain.qualification import calibration_score, gold_pause_due, va_distance


def score(rows, needed=3, min_accuracy=2 / 3, max_va_distance=0.4):
    return calibration_score(rows, needed=needed, min_accuracy=min_accuracy, max_va_distance=max_va_distance)


def test_va_distance_is_euclidean_and_none_without_a_point():
    assert math.isclose(va_distance((0.0, 0.0), (0.3, 0.4)), 0.5)
    assert va_distance((None, None), (0.3, 0.4)) is None


def test_only_the_latest_answers_count_so_an_early_mistake_is_outgrown():
    newest_first = [(True, 0.1), (True, 0.2), (True, 0.1), (False, 0.9), (False, 0.9)]
    s = score(newest_first)
    assert (s.answers, s.correct, s.passed) == (3, 3, True)
    assert math.isclose(s.mean_va_distance, 0.4 / 3)
    assert not score(newest_first[2:]).passed  # right, wrong, wrong


def test_a_round_passes_only_with_enough_answers_right_categories_and_close_points():
    assert not score([(True, 0.1), (True, 0.1)]).passed  # two of three answers
    assert not score([(True, 0.1), (False, 0.1), (False, 0.1)]).passed  # 1/3 right
    assert not score([(True, 0.5), (True, 0.5), (True, 0.5)]).passed  # points too far on average
    assert score([(True, None), (True, None), (False, None)]).passed  # no point to compare: none to fail
    assert score([], needed=0).passed  # calibration off
    assert score([(True, 0.4), (True, 0.4), (False, 0.4)]).as_dict()["accuracy"] == 2 / 3


def test_a_rolling_gold_window_pauses_below_the_threshold_once_it_holds_enough():
    assert not gold_pause_due([False, False], min_answers=3, below=0.5)  # too few to judge
    assert gold_pause_due([False, False, True], min_answers=3, below=0.5)
    assert not gold_pause_due([False, True, True], min_answers=3, below=0.5)
    assert not gold_pause_due([False] * 10, min_answers=3, below=0.0)  # 0: never pauses
