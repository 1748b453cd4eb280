"""The /annotate/ page in a real Chromium: keys, the valence-arousal drag, suggestions, undo, No-Face."""

import pytest

from annotator.guidelines.selectors import guideline_version_current
from annotator.guidelines.services import guidelines_mark_read
from annotator.models import Annotation, Claim, Face, Suggester, Suggestion
from tests.conftest import browser_login, install_default_guidelines, wait_for
from tests.drawn_faces import store_drawn_faces
from tests.project_helpers import activate, set_policy

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
    set_policy(blind_share=0.0)
    set_policy(gold_share=0.0)
    set_policy(queue_order="rare_first")


@pytest.fixture(autouse=True)
def guidelines_read(request):
    """The default guidelines, read already by the annotator of these tests (their first-session overlay
    has tests of its own, in test_annotate_guidelines_page.py)."""
    if "annotator_user" not in request.fixturenames:
        return
    install_default_guidelines()
    guidelines_mark_read(user=request.getfixturevalue("annotator_user"), version=guideline_version_current())


def circle_box(page):
    return page.locator("#va svg").bounding_box()


def suggest(face, category, valence, arousal, confidence=0.97):
    suggester = activate(Suggester.objects.get_or_create(name="test-model", version="1")[0])
    return Suggestion.objects.create(
        face=face, suggester=suggester, probabilities=[0.0] * 11, category=category, confidence=confidence,
        valence=valence, arousal=arousal,
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_annotate_with_keys_drag_suggestion_undo_and_no_face(
    page, live_server, annotator_user, data_root, queue_policy, artifacts_dir
):
    faces = store_drawn_faces(4)
    for priority, face in zip((4, 3, 2, 1), faces):
        Face.objects.filter(pk=face.pk).update(queue_priority=priority)
    suggester = activate(Suggester.objects.create(name="test-model", version="1"))
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
    page.keyboard.press("k")  # K keeps a point outside the region (Enter did until issue 14)
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


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_another_category_moves_the_point_to_its_region_unplaced_and_nothing_shifts(
    page, live_server, annotator_user, data_root, queue_policy
):
    [face, second] = store_drawn_faces(2)
    Face.objects.filter(pk=face.pk).update(queue_priority=2)
    suggest(face, category=6, valence=-0.5, arousal=0.6)  # the model says Anger
    browser_login(page, live_server, annotator_user, next_path="/annotate/")
    wait_shown(page, face)
    settled(page)
    assert "Model's suggestion: Anger (97%) \u2014 Enter accepts" in page.inner_text("#suggestion-badge")
    assert "tentative" in page.get_attribute("#va", "class")
    before = circle_box(page)

    # Happiness: the point leaves Anger's point for Happiness's region centre, drawn as not placed.
    page.keyboard.press("1")
    assert circle_box(page) == before
    assert page.locator("#va .va-v").inner_text() == "+0.60" and page.locator("#va .va-a").inner_text() == "+0.25"
    assert "unplaced" in page.get_attribute("#va", "class")
    assert "tentative" not in page.get_attribute("#va", "class")
    assert "not placed yet" in page.inner_text("#va .va-readout")
    badge = page.inner_text("#suggestion-badge")
    assert "Enter accepts" not in badge and "Happiness" in badge and "not placed" in badge
    page.screenshot(path="/tmp/annotate-unplaced.png")

    # Enter does not store the region centre: it asks for a placement, and the face stays.
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    assert "not placed yet" in page.inner_text("#message")
    assert circle_box(page) == before  # the message line appears below the circle
    assert shown_face(page) == str(face.pk)
    settled(page)
    assert not Annotation.objects.filter(face=face).exists()

    # Back to the suggestion's category: the model's point again.
    page.keyboard.press("6")
    assert page.locator("#va .va-v").inner_text() == "\u22120.50" and "tentative" in page.get_attribute("#va", "class")
    page.keyboard.press("1")
    assert page.locator("#va .va-v").inner_text() == "+0.60"

    # A drag start places it (and moves nothing); A would have accepted it where it was.
    x, y = circle_xy(page, 0.5, 0.3)
    page.mouse.move(x, y)
    page.mouse.down()
    assert circle_box(page) == before
    page.mouse.move(*circle_xy(page, 0.45, 0.3))
    page.mouse.up()
    assert "unplaced" not in page.get_attribute("#va", "class")
    assert "Enter accepts" not in page.inner_text("#suggestion-badge")
    assert circle_box(page) == before
    page.keyboard.press("Enter")
    wait_shown(page, second)
    settled(page)
    answer = wait_for(lambda: Annotation.objects.filter(face=face).first())
    assert answer.category == 1 and answer.valence == pytest.approx(0.45, abs=0.02)
    assert answer.kept_suggestion is False and answer.outside_region_confirmed is False
    assert answer.guideline_version == guideline_version_current() == 1


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_key_accepts_the_unplaced_point_where_it_stands(page, live_server, annotator_user, data_root, queue_policy):
    [face] = store_drawn_faces(1)
    suggest(face, category=1, valence=0.7, arousal=0.3)  # the model says Happiness
    browser_login(page, live_server, annotator_user, next_path="/annotate/")
    wait_shown(page, face)
    page.keyboard.press("2")  # Sadness: its region centre is (-0.6, -0.3)
    assert "unplaced" in page.get_attribute("#va", "class")
    page.keyboard.press("a")
    assert "unplaced" not in page.get_attribute("#va", "class")
    assert "not placed" not in page.inner_text("#suggestion-badge")
    page.keyboard.press("Enter")
    settled(page)
    answer = wait_for(lambda: Annotation.objects.filter(face=face).first())
    assert (answer.category, answer.valence, answer.arousal) == (2, -0.6, -0.3)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_double_enter_never_keeps_a_point_outside_the_region(page, live_server, annotator_user, data_root, queue_policy):
    [face, second] = store_drawn_faces(2)
    Face.objects.filter(pk=face.pk).update(queue_priority=2)
    suggest(face, category=1, valence=0.7, arousal=0.3)  # the model says Happiness
    browser_login(page, live_server, annotator_user, next_path="/annotate/")
    wait_shown(page, face)
    before = circle_box(page)
    # The annotator drags the model's point to the unpleasant side and keeps Happiness.
    page.mouse.move(*circle_xy(page, 0.7, 0.3))
    page.mouse.down()
    assert circle_box(page) == before
    page.mouse.move(*circle_xy(page, -0.4, -0.5))
    page.mouse.up()
    assert circle_box(page) == before
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    assert page.is_visible("#confirm-outside") and page.is_visible("#confirm-not-enter")
    page.screenshot(path="/tmp/annotate-outside.png")
    assert shown_face(page) == str(face.pk)
    settled(page)
    assert not Annotation.objects.filter(face=face).exists()
    # Esc goes back to the point; K keeps it, recorded as confirmed.
    page.keyboard.press("Escape")
    assert not page.is_visible("#confirm-outside")
    page.keyboard.press("Enter")
    assert page.is_visible("#confirm-outside") and not page.is_visible("#confirm-not-enter")
    page.keyboard.press("k")
    wait_shown(page, second)
    settled(page)
    answer = wait_for(lambda: Annotation.objects.filter(face=face).first())
    assert answer.category == 1 and answer.outside_region_confirmed is True
    assert answer.valence == pytest.approx(-0.4, abs=0.02) and answer.arousal == pytest.approx(-0.5, abs=0.02)
