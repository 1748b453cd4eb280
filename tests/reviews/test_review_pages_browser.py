"""The review pages as a reviewer sees them in Chromium: the item page's face (448 px, zoom, landmarks
on request) with every action in view on a 1280x720 laptop; the queue's evidence in words and the
number of faces left; the dashboard's empty charts saying so."""
import pytest
from django.contrib.auth.models import Group

from annotator.web.roles import ROLES
from reviews.flagging import desired_flags
from tests.conftest import browser_login
from tests.review_factories import answer, flag, make_face, suggest, suggester


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def flagged_faces(annotator_user, second_annotator, n=2):
    model = suggester()
    faces = []
    for i in range(n):
        face = make_face()
        answers = [answer(face, annotator_user, 1, 0.62, 0.31 - 0.1 * i, seconds_spent=3.5),
                   answer(face, second_annotator, 3, 0.15, 0.82, seconds_spent=5.0)]
        s = suggest(face, model, 1, 0.5, 0.2, confidence=0.72)
        for (reason, key), (evidence, severity) in desired_flags(annotations=answers, suggestion=s, gold=None).items():
            flag(face, reason=reason, key=key, severity=severity, evidence=evidence)
        faces.append(face)
    return faces


def in_view(page, selector):
    """The element's box lies wholly inside the viewport as the page opens (no scrolling)."""
    return page.evaluate("""(sel) => { const b = document.querySelector(sel).getBoundingClientRect();
        return b.width > 0 && b.top >= 0 && b.left >= 0 && b.bottom <= innerHeight && b.right <= innerWidth; }""", selector)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_review_item_face_is_large_zooms_and_shows_landmarks_only_when_asked(page, live_server, admin_user_role,
                                                                           annotator_user, second_annotator,
                                                                           artifacts_dir):
    faces = flagged_faces(annotator_user, second_annotator)
    browser_login(page, live_server, admin_user_role, next_path=f"/review/face/{faces[0].id}/")
    page.wait_for_selector(".va-mark")
    # Landmarks: hidden until asked, then the checkbox and L both toggle them.
    assert page.locator("#landmarks").evaluate("n => getComputedStyle(n).display") == "none"
    assert not page.locator("#landmarks").is_visible()
    page.check("#landmarks-toggle")
    assert page.locator("#landmarks").is_visible()
    page.uncheck("#landmarks-toggle")
    assert not page.locator("#landmarks").is_visible()
    page.keyboard.press("l")
    assert page.locator("#landmarks").is_visible() and page.locator("#landmarks-toggle").is_checked()
    page.keyboard.press("l")
    assert not page.locator("#landmarks").is_visible()

    # The face is at least 448 px on a laptop, and every action is on screen without scrolling.
    box = page.locator("#face-img").bounding_box()
    assert box["width"] >= 448 and box["height"] >= 448, box
    for selector in ("#decide", "#mark-gold", "#return-note", "#one-more", "#landmarks-toggle", "#zoom-in",
                     "#category-keys button[data-category='10']", "#answers .pick", "#suggestion .pick", "#note"):
        assert in_view(page, selector), f"{selector} is not in view at 1280x720"
    assert page.locator("#faces-left").inner_text() == "2 faces left to review"
    page.screenshot(path=str(artifacts_dir / "review-item-laptop.png"))

    # Zoom: the wheel over the face, + and = (fit), and the buttons.
    face = page.locator("#face-box").bounding_box()
    page.mouse.move(face["x"] + face["width"] * 0.3, face["y"] + face["height"] * 0.4)
    page.mouse.wheel(0, -400)
    page.wait_for_function("() => document.getElementById('face-img').getBoundingClientRect().width > 700")
    assert page.locator("#face-box").bounding_box()["width"] == pytest.approx(face["width"])  # zooms inside its box
    page.screenshot(path=str(artifacts_dir / "review-item-zoomed.png"))
    page.keyboard.press("=")
    assert page.locator("#face-img").bounding_box()["width"] == pytest.approx(face["width"], abs=1)
    page.keyboard.press("+")
    assert page.locator("#face-img").bounding_box()["width"] == pytest.approx(1.5 * face["width"], abs=1)
    page.click("#zoom-out")
    assert page.locator("#face-img").bounding_box()["width"] == pytest.approx(face["width"], abs=1)
    assert page.locator("#zoom-in").get_attribute("aria-label")
    # A two-finger pinch (touch pointers) that doubles the fingers' spread doubles the face.
    page.evaluate("""() => {
        const box = document.getElementById("face-box"), r = box.getBoundingClientRect();
        const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
        const ev = (type, id, x) => box.dispatchEvent(new PointerEvent(type, {pointerId: id, pointerType: "touch",
            clientX: x, clientY: cy, bubbles: true, isPrimary: id === 1}));
        ev("pointerdown", 1, cx - 50); ev("pointerdown", 2, cx + 50);
        for (let d = 50; d <= 100; d += 10) { ev("pointermove", 1, cx - d); ev("pointermove", 2, cx + d); }
        ev("pointerup", 1, cx - 100); ev("pointerup", 2, cx + 100);
    }""")
    assert page.locator("#face-img").bounding_box()["width"] == pytest.approx(2 * face["width"], rel=0.02)
    assert page.locator("#zoom-level").inner_text() == "2×"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_review_queue_reads_evidence_in_words_and_counts_faces_left(page, live_server, reviewer_user, annotator_user,
                                                                     second_annotator, artifacts_dir):
    faces = flagged_faces(annotator_user, second_annotator, n=3)
    browser_login(page, live_server, reviewer_user, next_path="/review/")
    page.screenshot(path=str(artifacts_dir / "review-queue.png"), full_page=True)
    assert page.locator("#faces-left").inner_text() == "3 faces left to review"
    row = page.locator(f"tr[data-face='{faces[0].id}']")
    evidence = row.locator(".evidence").all_inner_texts()
    assert "ann1: 1 Happiness (+0.62, +0.31) · ann2: 3 Surprise (+0.15, +0.82) · points 0.69 apart" in evidence
    text = page.locator("table.queue").inner_text()
    for raw in ("annotation_id", "{", "[", "va_distance", "0.4981", "=True", "=False"):
        assert raw not in text, f"raw evidence {raw!r} in the queue: {text}"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_dashboard_charts_say_no_data_yet_when_empty(page, live_server, reviewer_user, artifacts_dir):
    browser_login(page, live_server, reviewer_user, next_path="/review/dashboard/")
    page.screenshot(path=str(artifacts_dir / "dashboard-empty.png"), full_page=True)
    for chart in ("#chart-categories", "#chart-va", "#chart-confusion-annotators", "#chart-confusion-model"):
        assert page.locator(chart).inner_text().strip() == "No data yet: nothing has been answered.", chart
        assert page.locator(f"{chart} svg").count() == 0, chart
