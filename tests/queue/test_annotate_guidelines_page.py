"""The guidelines on the /annotate/ page in a real Chromium: the overlay before the first session, the
definitions under `?`, a category's guideline on hover, and the version each answer records."""
import pytest

from annotator.guidelines.services import guideline_save
from annotator.models import Annotation, GuidelineReading
from tests.conftest import browser_login, wait_for
from tests.drawn_faces import store_drawn_faces
from tests.project_helpers import set_policy
from tests.queue.test_annotate_page import settled, wait_shown


@pytest.fixture
def queue_policy(settings):
    set_policy(blind_share=0.0)
    set_policy(gold_share=0.0)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_guidelines_before_the_first_session_then_on_question_mark_and_hover(
    page, live_server, annotator_user, data_root, queue_policy, default_guidelines, artifacts_dir
):
    faces = store_drawn_faces(2)
    # An admin's edit: the page shows the current set, and answers record its version.
    guideline_save(category=7, definition="Contempt: one lip corner raised on one side only.",
                   not_this="Not a nose wrinkle on both sides (Disgust).", example_face_ids=[faces[1].pk])
    browser_login(page, live_server, annotator_user, next_path="/annotate/")
    wait_shown(page, faces[0])
    assert page.is_visible("#guidelines-intro")
    intro = page.inner_text("#guidelines-intro")
    assert "Contempt: one lip corner raised on one side only." in intro and "(Disgust)" in intro
    assert "Uncertain: a human face whose expression you cannot decide" in intro
    page.wait_for_function("() => [...document.querySelectorAll('#guidelines-intro .examples img')]"
                           ".every((img) => img.complete && img.naturalWidth > 0)")
    page.screenshot(path="/tmp/annotate-guidelines-intro.png")
    page.screenshot(path=str(artifacts_dir / "annotate-guidelines-intro.png"))

    # Keys do nothing while it is open: no category chosen, nothing sent.
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    assert "chosen" not in page.get_attribute('button[data-category="1"]', "class")
    assert not GuidelineReading.objects.filter(user=annotator_user).exists()

    page.click("#guidelines-done")
    assert not page.is_visible("#guidelines-intro")
    settled(page)
    assert GuidelineReading.objects.filter(user=annotator_user, version=2).exists()

    # `?`: the keys and every category's definition.
    page.keyboard.press("?")
    help_text = page.inner_text("#help")
    assert "version 2" in help_text and "Contempt: one lip corner raised on one side only." in help_text
    assert "None: a clear, readable state" in help_text and "keep a point outside" in help_text
    page.screenshot(path="/tmp/annotate-help-guidelines.png")
    page.keyboard.press("Escape")
    assert not page.is_visible("#help")

    # Hover: a category's guideline, next to its button.
    assert not page.is_visible("#guideline-tip")
    page.hover('button[data-category="7"]')
    page.wait_for_selector("#guideline-tip:not([hidden])")
    tip = page.inner_text("#guideline-tip")
    assert "Contempt (7)" in tip and "one side only" in tip and "(Disgust)" in tip
    assert page.locator("#guideline-tip img").count() == 1
    page.screenshot(path="/tmp/annotate-tooltip.png")
    page.hover('button[data-category="5"]')
    assert page.inner_text("#guideline-tip .tip-definition").startswith("Disgust: nose wrinkled")
    page.mouse.move(5, 5)
    assert not page.is_visible("#guideline-tip")

    # An answer records the version it was given under.
    page.keyboard.press("9")
    page.keyboard.press("Enter")
    wait_shown(page, faces[1])
    settled(page)
    answer = wait_for(lambda: Annotation.objects.filter(face=faces[0]).first())
    assert (answer.category, answer.guideline_version) == (9, 2)

    # Dismissed once: not shown again.
    page.reload()
    wait_shown(page, faces[1])
    assert not page.is_visible("#guidelines-intro")
