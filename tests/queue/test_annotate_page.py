"""The /annotate/ page in a real Chromium: keys, the valence-arousal drag, suggestions, undo, No-Face."""

import pytest

from annotator.models import Annotation, Claim, Face, Suggester, Suggestion
from tests.conftest import browser_login, wait_for
from tests.drawn_faces import store_drawn_faces

EXTENT = 1.15  # the circle's view box reaches from -EXTENT to +EXTENT (static/js/va-circle.js)



def settled(page):
    """Wait until the page has no request in flight (the test database is in memory and shared
    between this thread and the server's, so reads wait for the page's writes to finish)."""
    page.wait_for_function("() => document.body.dataset.busy === '0'", timeout=10000)


def shown_face(page):
    return page.get_attribute("#stage", "data-face-id")


def readout_valence(page):
    return float(page.locator("#va .va-v").inner_text().replace("\u2212", "-"))


def wait_shown(page, face):
    page.wait_for_selector(f'#stage[data-face-id="{face.pk}"] img.face', timeout=10000)


def circle_xy(page, valence, arousal):
    box = page.locator("#va svg").bounding_box()
    x = box["x"] + (valence + EXTENT) / (2 * EXTENT) * box["width"]
    y = box["y"] + (EXTENT - arousal) / (2 * EXTENT) * box["height"]
    return x, y


@pytest.fixture
def queue_policy(settings):
    settings.BLIND_SHARE = 0.0
    settings.GOLD_SHARE = 0.0
    settings.QUEUE_ORDER = "rare_first"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_annotate_with_keys_drag_suggestion_undo_and_no_face(
    page, live_server, annotator_user, data_root, queue_policy, artifacts_dir
):
    faces = store_drawn_faces(4)
    for priority, face in zip((4, 3, 2, 1), faces):
        Face.objects.filter(pk=face.pk).update(queue_priority=priority)
    suggester = Suggester.objects.create(name="test-model", version="1", is_active=True)
    suggestion = Suggestion.objects.create(
        face=faces[1], suggester=suggester, probabilities=[0.0] * 11, category=3, confidence=0.7,
        valence=0.2, arousal=0.6,
    )

    browser_login(page, live_server, annotator_user, next_path="/annotate/")
    wait_shown(page, faces[0])
    settled(page)
    stage = page.locator("#stage").bounding_box()
    assert stage["width"] >= 448 and stage["height"] >= 448

    # A category by its key, then the point dragged to a known place.
    page.keyboard.press("6")
    assert "chosen" in page.get_attribute('button[data-category="6"]', "class")
    page.mouse.move(*circle_xy(page, 0.0, 0.0))
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(*circle_xy(page, -0.05 * step, 0.055 * step))
    page.mouse.up()
    assert page.locator("#va .va-v").inner_text() == "\u22120.50"
    page.keyboard.press("l")
    page.wait_for_function("() => !document.getElementById('landmarks').hidden")
    page.screenshot(path=str(artifacts_dir / "annotate.png"))
    page.keyboard.press("Enter")
    wait_shown(page, faces[1])
    settled(page)
    first = wait_for(lambda: Annotation.objects.filter(face=faces[0]).first())
    assert first.category == 6
    assert first.valence == pytest.approx(-0.5, abs=0.02) and first.arousal == pytest.approx(0.55, abs=0.02)

    # The suggestion is prefilled, marked as the model's, and Enter accepts it.
    assert "Model's suggestion" in page.inner_text("#suggestion-badge")
    assert "model" in page.get_attribute('button[data-category="3"]', "class")
    page.screenshot(path=str(artifacts_dir / "annotate-suggestion.png"))
    page.keyboard.press("Enter")
    wait_shown(page, faces[2])
    settled(page)
    accepted = wait_for(lambda: Annotation.objects.filter(face=faces[1]).first())
    assert (accepted.category, accepted.valence, accepted.arousal) == (3, 0.2, 0.6)
    assert accepted.suggestion == suggestion and accepted.kept_suggestion is True

    # No-Face disables and clears the circle, and stores no valence/arousal.
    page.keyboard.press("ArrowUp")
    page.keyboard.press("x")
    assert "disabled" in page.get_attribute("#va", "class")
    page.mouse.click(*circle_xy(page, 0.5, 0.5))  # clicks on a disabled circle place nothing
    assert "no valence/arousal" in page.inner_text("#va .va-readout")
    page.keyboard.press("Enter")
    wait_shown(page, faces[3])
    settled(page)
    no_face = wait_for(lambda: Annotation.objects.filter(face=faces[2]).first())
    assert (no_face.category, no_face.valence, no_face.arousal) == (10, None, None)

    # Undo reopens the last answer; the change is stored and the queue carries on where it was.
    page.keyboard.press("z")
    wait_shown(page, faces[2])
    assert "Changing your earlier answer" in page.inner_text("#suggestion-badge")
    page.keyboard.press("9")
    page.keyboard.press("Enter")
    wait_shown(page, faces[3])
    settled(page)
    wait_for(lambda: Annotation.objects.get(face=faces[2]).category == 9)
    assert Annotation.objects.filter(face=faces[2]).count() == 1
    assert Annotation.objects.get(face=faces[2]).history.count() == 2
    assert page.inner_text("#count-done") == "3"

    page.keyboard.press("?")
    assert page.is_visible("#help")
    assert "No-Face" in page.inner_text("#help")
    page.screenshot(path=str(artifacts_dir / "annotate-help.png"))


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_arrow_keys_nudge_and_outside_region_asks_to_confirm(
    page, live_server, annotator_user, data_root, queue_policy
):
    [face, second] = store_drawn_faces(2)
    browser_login(page, live_server, annotator_user, next_path="/annotate/")
    wait_shown(page, face)
    page.keyboard.press("1")  # Happiness: its region is on the pleasant side
    for _ in range(4):
        page.keyboard.press("ArrowLeft")
    page.keyboard.press("Shift+ArrowDown")
    assert page.locator("#va .va-v").inner_text() == "\u22120.20"
    assert page.locator("#va .va-a").inner_text() == "\u22120.01"
    page.keyboard.press("Enter")
    assert page.is_visible("#confirm-outside")
    assert shown_face(page) == str(face.pk)
    page.keyboard.press("Enter")
    settled(page)
    answer = wait_for(lambda: Annotation.objects.filter(face=face).first())
    assert answer.outside_region_confirmed is True
    assert (answer.valence, answer.arousal) == (pytest.approx(-0.2), pytest.approx(-0.01))

    # A click gives the circle the focus; an arrow then moves the point once: the circle handles it,
    # and the page, which forwards keys to the circle too, must not move it again.
    wait_shown(page, second)
    page.mouse.click(*circle_xy(page, 0.3, 0.3))
    before = readout_valence(page)
    page.keyboard.press("ArrowRight")
    assert readout_valence(page) == pytest.approx(before + 0.05, abs=0.011)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_second_annotator_never_gets_a_face_that_needs_one(
    chromium, page, live_server, annotator_user, second_annotator, data_root, queue_policy
):
    [face] = store_drawn_faces(1, required=1)
    browser_login(page, live_server, annotator_user, next_path="/annotate/")
    wait_shown(page, face)
    other_context = chromium.new_context(viewport={"width": 1280, "height": 720})
    try:
        other = other_context.new_page()
        browser_login(other, live_server, second_annotator, next_path="/annotate/")
        other.wait_for_function("() => document.getElementById('message').textContent.includes('No faces')")
        settled(other)
        assert shown_face(other) == ""
        assert not Claim.objects.filter(annotator=second_annotator).exists()
    finally:
        other_context.close()
