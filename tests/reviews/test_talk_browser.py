"""The return-with-note round trip in a real Chromium: a reviewer returns a face to its annotator with
a note, the annotator sees the note above that face on the annotate page and answers again, and the
reviewer sees the new answer."""
import pytest
from django.contrib.auth.models import Group

from annotator.guidelines.selectors import guideline_version_current
from annotator.guidelines.services import guidelines_mark_read
from annotator.models import Annotation, ReviewerRequest
from annotator.web.roles import ROLES
from tests.conftest import browser_login, wait_for
from tests.project_helpers import set_policy
from tests.queue.test_annotate_page import circle_xy, settled, wait_shown
from tests.review_factories import answer, flag, make_face

NOTE = "Look at the mouth: the corners go down, and the brows are raised inside. Sadness?"


@pytest.fixture(autouse=True)
def role_groups(transactional_db, settings):
    """The roles come from a data migration, which a transactional test's flush removes."""
    set_policy(blind_share=0.0)
    set_policy(gold_share=0.0)
    for name in ROLES:
        Group.objects.get_or_create(name=name)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_return_with_note_round_trip(chromium, page, live_server, data_root, reviewer_user, annotator_user,
                                     second_annotator, artifacts_dir):
    face = make_face(required=2)
    returned = answer(face, annotator_user, 1, 0.6, 0.3, seconds_spent=3.0)
    answer(face, second_annotator, 2, -0.6, -0.3, seconds_spent=5.0)
    flag(face, severity=0.9, evidence={"categories": [1, 2]})

    # The reviewer picks the first answer (A), writes a note and returns the face with it.
    browser_login(page, live_server, reviewer_user, next_path=f"/review/face/{face.id}/")
    page.wait_for_selector("#answers .pick")
    assert page.locator("#return-note").is_disabled()
    page.keyboard.press("a")
    page.click("#note")
    page.keyboard.type(NOTE)  # letters typed in the note pick no answer (B) and set no category (2)
    assert "accept the answer" in page.inner_text("#pending")
    assert page.inner_text("#return-note") == f"Return to {annotator_user.username} with the note"
    page.screenshot(path=str(artifacts_dir / "talk-review-return.png"), full_page=True)
    page.click("#return-note")
    page.wait_for_url(f"{live_server.url}/review/?done={face.id}")
    assert "Nothing to review" in page.content()  # the face waits for its annotator now...
    assert f"face {face.id}: returned to {annotator_user.username}" in page.inner_text("#waiting")  # ...listed
    request = ReviewerRequest.objects.get(face=face)
    assert (request.annotator, request.note, request.annotation) == (annotator_user, NOTE, returned)

    # The annotator opens the annotate page: that face, with the note above it (the guidelines read before).
    guidelines_mark_read(user=annotator_user, version=guideline_version_current())
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    annotator_page = context.new_page()
    try:
        browser_login(annotator_page, live_server, annotator_user, next_path="/annotate/")
        wait_shown(annotator_page, face)
        settled(annotator_page)
        note = annotator_page.locator("#review-note")
        assert note.is_visible()
        assert NOTE in note.inner_text()
        assert f"Returned to you by {reviewer_user.username}" in note.inner_text()
        assert "Your earlier answer: Happiness (+0.60, +0.30)" in note.inner_text()
        # The note sits above the face.
        assert note.bounding_box()["y"] + note.bounding_box()["height"] <= annotator_page.locator(
            "#stage").bounding_box()["y"]
        annotator_page.screenshot(path=str(artifacts_dir / "talk-annotate-note.png"))
        annotator_page.keyboard.press("2")  # Sadness
        annotator_page.mouse.click(*circle_xy(annotator_page, -0.5, -0.35))
        annotator_page.keyboard.press("Enter")
        settled(annotator_page)
        annotator_page.wait_for_function("() => document.getElementById('stage').dataset.faceId === ''")
        assert annotator_page.locator("#review-note").is_hidden()  # it went with the face
        annotator_page.screenshot(path=str(artifacts_dir / "talk-annotate-after.png"))
        # The feedback page lists the note; the annotate page links it.
        annotator_page.click("#site-nav a[href=\"/review/me/\"]")
        annotator_page.wait_for_selector("#notes")
        assert NOTE in annotator_page.inner_text("#notes")
        annotator_page.screenshot(path=str(artifacts_dir / "talk-feedback.png"), full_page=True)
    finally:
        context.close()

    wait_for(lambda: Annotation.objects.get(pk=returned.pk).category == 2, what="the new answer stored")
    again = Annotation.objects.get(pk=returned.pk)
    assert again.valence == pytest.approx(-0.5, abs=0.03) and again.arousal == pytest.approx(-0.35, abs=0.03)
    assert Annotation.objects.filter(face=face).count() == 2
    request.refresh_from_db()
    assert request.status == ReviewerRequest.Status.ANSWERED

    # The reviewer sees the new answer (no worker ran here, so the flag is still open and the face back
    # in the queue), and the round trip in the history.
    page.goto(f"{live_server.url}/review/")
    assert page.locator(f'a[href*="/review/face/{face.id}/"]').count() >= 1
    page.goto(f"{live_server.url}/review/face/{face.id}/")
    page.wait_for_selector("#answers .pick")
    # The new answer is the face's newest, so it is listed last (B now).
    answers = page.locator("#answers li").all_inner_texts()
    assert len(answers) == 2 and f"{annotator_user.username}: 2 Sadness (" in answers[1]
    history = page.inner_text("#history")
    assert f"returned to {annotator_user.username}" in history and "answered again" in history
    assert "answered" in page.inner_text("#requests")
    page.screenshot(path=str(artifacts_dir / "talk-review-after.png"), full_page=True)
