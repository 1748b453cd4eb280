"""The calibration gate on the real /annotate/ page (Chromium): a new annotator answers gold faces, sees
the reference and the V/A distance after each answer, and reaches the real queue once they pass."""
import math

import pytest

from annotator.guidelines.selectors import guideline_version_current
from annotator.guidelines.services import guidelines_mark_read
from annotator.models import AnnotatorStanding, CalibrationAnswer, Claim, Suggester, Suggestion
from annotator.qualification.selectors import standing_of
from reviews.services import gold_mark
from tests.conftest import browser_login
from tests.drawn_faces import store_drawn_faces
from tests.project_helpers import activate, set_policy
from tests.queue.test_annotate_page import circle_xy, settled

FEEDBACK_OPEN = "#feedback:not([hidden])"


def shown(page) -> int:
    """Wait until a face is on the stage and no feedback covers it; return its id."""
    page.wait_for_function(
        "() => document.getElementById('stage').dataset.faceId !== '' && document.getElementById('feedback').hidden",
        timeout=10000,
    )
    return int(page.get_attribute("#stage", "data-face-id"))


def answer(page, key, valence, arousal):
    page.keyboard.press(key)
    page.mouse.click(*circle_xy(page, valence, arousal))
    page.keyboard.press("Enter")
    page.wait_for_selector(FEEDBACK_OPEN, timeout=10000)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_new_annotator_sees_feedback_after_each_calibration_answer_and_then_reaches_the_queue(
    page, live_server, annotator_user, data_root, settings, artifacts_dir
):
    set_policy(blind_share=0.0, gold_share=0.0)
    set_policy(queue_order="rare_first")
    set_policy(calibration_faces=2)
    set_policy(calibration_min_accuracy=1.0)
    set_policy(calibration_max_va_distance=0.3)
    # Read before (tests/guidelines has the overlay's own test): the overlay would cover the first face.
    guidelines_mark_read(user=annotator_user, version=guideline_version_current())
    first_gold, second_gold, plain = store_drawn_faces(3)
    golds = {first_gold.pk, second_gold.pk}
    suggester = activate(Suggester.objects.create(name="test-model", version="1"))
    for face in (first_gold, second_gold, plain):
        Suggestion.objects.create(face=face, suggester=suggester, probabilities=[0.0] * 11, category=6,
                                  confidence=0.9, valence=-0.5, arousal=0.6)
    for face in (first_gold, second_gold):
        gold_mark(face=face, category=1, valence=0.6, arousal=0.3, by=None)

    browser_login(page, live_server, annotator_user, next_path="/annotate/")
    page.wait_for_selector('#standing-banner[data-state="calibrating"]')
    assert "Calibration round" in page.inner_text("#standing-banner")
    assert shown(page) in golds
    assert "hidden" in page.get_attribute("#suggestion-badge", "class")  # always blind: no model's answer

    # A wrong answer: the reference category and point, the distance, and the round's score.
    answer(page, "2", -0.6, -0.3)  # Sadness
    assert "not the reference category" in page.inner_text("#feedback-title")
    assert "Happiness" in page.inner_text("#feedback-reference")
    assert "valence +0.60, arousal +0.30" in page.inner_text("#feedback-reference")
    distance = float(page.inner_text("#feedback-distance"))
    assert distance == pytest.approx(math.hypot(1.2, 0.6), abs=0.03)
    assert "1 of 2 answers" in page.inner_text("#feedback-round")
    page.screenshot(path=str(artifacts_dir / "annotate-calibration-feedback.png"))
    page.keyboard.press("Enter")  # closes the feedback, and reaches no face
    assert CalibrationAnswer.objects.count() == 1 and not CalibrationAnswer.objects.get().correct

    # Right answers until the page serves the real queue; the round repeats faces as it needs.
    passed_at = None
    for n in range(2, 8):
        face = shown(page)
        if face == plain.pk:
            break
        assert face in golds
        answer(page, "1", 0.6, 0.3)
        assert "the reference category" in page.inner_text("#feedback-title")
        if passed_at is None and page.locator("#feedback-passed").count():
            passed_at = n
        page.keyboard.press("Enter")
    else:
        pytest.fail("the real queue never came")
    assert passed_at == 3  # wrong, right, right: the latest two pass
    assert page.get_attribute("#standing-banner", "data-state") == "qualified"
    settled(page)
    assert standing_of(annotator_user).state == AnnotatorStanding.State.QUALIFIED
    assert not Claim.objects.get(face=plain).calibration
    assert "Model's suggestion" in page.inner_text("#suggestion-badge")  # an ordinary face, not blind
