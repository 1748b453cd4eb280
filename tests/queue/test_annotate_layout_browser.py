"""The /annotate/ page at the sizes annotators use, in Chromium: a 1280x720 laptop without scrolling,
with a circle large enough to place a point to 0.02 and legible axis words; a phone in portrait,
used by touch alone (category, point, submit); and faces/hour from the stored answers."""
import pytest

from annotator.models import Annotation, Face
from tests.conftest import browser_login, wait_for
from tests.drawn_faces import store_drawn_faces
from tests.queue.test_annotate_page import circle_xy, guidelines_read, settled, wait_shown  # noqa: F401

IN_VIEW = """(sel) => [...document.querySelectorAll(sel)].every(n => { const b = n.getBoundingClientRect();
    return b.width > 0 && b.top >= 0 && b.left >= 0 && b.bottom <= innerHeight && b.right <= innerWidth; })"""


def ordered_faces(n):
    faces = store_drawn_faces(n)
    for priority, face in zip(range(n, 0, -1), faces):
        Face.objects.filter(pk=face.pk).update(queue_priority=priority)
    return faces


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_laptop_shows_everything_without_scrolling(page, live_server, annotator_user, data_root, artifacts_dir):
    faces = ordered_faces(3)
    browser_login(page, live_server, annotator_user, next_path="/annotate/")
    wait_shown(page, faces[0])
    settled(page)
    page.screenshot(path=str(artifacts_dir / "annotate-laptop.png"))
    assert page.evaluate("() => document.documentElement.scrollHeight <= innerHeight"), "the page scrolls at 1280x720"
    for selector in ("#stage", "button.category", "#va svg", "#va .va-readout", "#submit-button", "#skip-button",
                     "#undo-button", "#help-button"):
        assert page.evaluate(IN_VIEW, selector), f"{selector} is not wholly in view at 1280x720"
    circle = page.locator("#va svg").bounding_box()
    assert circle["width"] >= 300, circle
    # Axis words of 12 px or more.
    heights = page.locator("#va .va-label").evaluate_all("ns => ns.map(n => n.getBoundingClientRect().height)")
    assert min(heights) >= 12, heights
    # A point placed with the mouse lands within 0.01 of where it was aimed (0.02 is asked).
    page.keyboard.press("1")
    for valence, arousal in ((0.42, 0.36), (-0.18, 0.74), (0.06, -0.02)):
        page.mouse.click(*circle_xy(page, valence, arousal))
        v = float(page.locator("#va .va-v").inner_text().replace("\u2212", "-"))
        a = float(page.locator("#va .va-a").inner_text().replace("\u2212", "-"))
        assert v == pytest.approx(valence, abs=0.01) and a == pytest.approx(arousal, abs=0.01)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_phone_in_portrait_annotates_by_touch(chromium, live_server, annotator_user, data_root, artifacts_dir):
    faces = ordered_faces(3)
    context = chromium.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True,
                                   device_scale_factor=2)
    page = context.new_page()
    try:
        browser_login(page, live_server, annotator_user, next_path="/annotate/")
        wait_shown(page, faces[0])
        settled(page)
        page.screenshot(path=str(artifacts_dir / "annotate-phone.png"), full_page=True)
        assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth"), "the page is wider than the phone"
        assert page.locator("header.topbar").bounding_box()["height"] < 48  # one line
        stage = page.locator("#stage").bounding_box()
        assert stage["x"] >= 0 and stage["x"] + stage["width"] <= 390 and stage["width"] >= 300, stage
        circle = page.locator("#va svg").bounding_box()
        assert circle["x"] >= 0 and circle["x"] + circle["width"] <= 390 and circle["width"] >= 300, circle
        # Touch alone: a category, a point on the circle, Submit.
        page.locator('button.category[data-category="4"]').tap()
        assert page.get_attribute('button.category[data-category="4"]', "aria-pressed") == "true"
        page.locator("#va svg").scroll_into_view_if_needed()
        page.touchscreen.tap(*circle_xy(page, -0.4, 0.5))
        assert page.locator("#va .va-v").inner_text() == "\u22120.40"
        page.locator("#submit-button").tap()
        wait_shown(page, faces[1])
        settled(page)
        answer = wait_for(lambda: Annotation.objects.filter(face=faces[0]).first())
        assert answer.category == 4
        assert answer.valence == pytest.approx(-0.4, abs=0.01) and answer.arousal == pytest.approx(0.5, abs=0.01)
        # Skip by touch too.
        page.locator("#skip-button").tap()
        wait_shown(page, faces[2])
        # The keys and guidelines open and close by touch (there is no Esc key).
        page.locator("#help-button").tap()
        assert page.locator("#help").is_visible()
        page.locator("#help-close").tap()
        assert not page.locator("#help").is_visible()
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_faces_per_hour_comes_from_the_stored_answers(page, live_server, annotator_user, data_root):
    faces = ordered_faces(10)
    browser_login(page, live_server, annotator_user, next_path="/annotate/")
    wait_shown(page, faces[0])
    settled(page)
    assert page.inner_text("#count-done") == "0" and page.inner_text("#count-rate") == "\u2013"
    page.keyboard.press("x")  # No-Face: no point to place
    page.keyboard.press("Enter")
    wait_shown(page, faces[1])
    settled(page)
    # One face is no pace: not the "60" an hour's minimum gave.
    assert page.inner_text("#count-done") == "1" and page.inner_text("#count-rate") == "\u2013"
    page.reload()
    wait_for(lambda: Annotation.objects.filter(annotator=annotator_user).count() == 1)
    page.wait_for_selector("#stage img.face")
    assert page.inner_text("#count-done") == "1"  # survives the reload

    # Five answers of 10 s each, whoever stored them: 5 faces in 50 s on screen are 360 faces/hour.
    for face in faces[6:10]:  # faces the page holds no claim on
        Annotation.objects.create(face=face, annotator=annotator_user, category=10, seconds_spent=10.0)
    Annotation.objects.filter(annotator=annotator_user, face=faces[0]).update(seconds_spent=10.0)
    page.reload()
    page.wait_for_selector("#stage img.face")
    assert page.inner_text("#count-done") == "5"
    assert page.inner_text("#count-rate") == "360"
