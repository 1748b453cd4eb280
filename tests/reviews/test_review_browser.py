"""The review pages in a real Chromium: a reviewer settles a flagged face by keyboard and the next
flagged face appears; the dashboard draws its charts."""
import numpy as np
import pytest
from django.contrib.auth.models import Group

from annotator.datasets.exporting import affectnet_export
from annotator.domain.labels import Label
from annotator.faces.selectors import face_final_label
from annotator.web.roles import ROLES
from reviews.flagging import desired_flags
from reviews.models import Decision, Flag
from tests.conftest import browser_login
from tests.review_factories import answer, flag, make_face, suggest, suggester


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    """The roles come from a data migration, which a transactional test's flush removes."""
    for name in ROLES:
        Group.objects.get_or_create(name=name)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_reviewer_decides_by_keyboard_and_the_next_face_appears(page, live_server, data_root, reviewer_user,
                                                                 annotator_user, second_annotator, artifacts_dir):
    model = suggester()
    first = make_face()
    answers = [answer(first, annotator_user, 1, 0.62, 0.31, seconds_spent=3.5),
               answer(first, second_annotator, 3, 0.15, 0.82, seconds_spent=5.0)]
    suggest(first, model, 1, 0.5, 0.2, confidence=0.72)
    [(evidence, _)] = desired_flags(annotations=answers, suggestion=None, gold=None).values()
    flag(first, severity=0.9, evidence=evidence)
    second = make_face()
    answer(second, annotator_user, 6, -0.6, 0.6)
    answer(second, second_annotator, 5, -0.7, 0.3)
    flag(second, severity=0.5)

    browser_login(page, live_server, reviewer_user, next_path="/review/")
    page.screenshot(path=str(artifacts_dir / "review-queue.png"), full_page=True)
    page.click("a.start")
    page.wait_for_selector(".va-mark")
    assert page.locator("#face-id").inner_text() == str(first.id)
    # both answers and the model's suggestion are points on the one circle, each its own colour
    labels = page.locator(".va-mark").evaluate_all("nodes => nodes.map(n => n.dataset.label)")
    assert labels == ["A", "B", "S"]
    fills = page.locator(".va-mark circle, .va-mark rect").evaluate_all("nodes => nodes.map(n => n.getAttribute('fill'))")
    assert len(set(fills)) == 3
    # The flag's evidence reads as the answers' letters and labels, not as raw JSON.
    assert page.locator("#flags .evidence").inner_text() == (
        "A: 1 Happiness (+0.62, +0.31) · B: 3 Surprise (+0.15, +0.82) · points 0.69 apart"
    )
    page.keyboard.press("l")
    assert page.locator("#landmarks").is_visible()
    assert page.locator("#landmarks circle").count() == 68
    assert "pick a label" in page.inner_text("#circle .va-readout")  # no point before a label is picked
    page.keyboard.press("b")  # accept the second annotator's answer...
    page.keyboard.press("ArrowUp")  # ...then nudge its point by 0.05: the decision becomes the reviewer's own
    assert "set by you" in page.locator("#pending").inner_text()
    page.screenshot(path=str(artifacts_dir / "review-item.png"), full_page=True)
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => document.getElementById('face-id').textContent === '{second.id}'")
    assert page.url.endswith(f"/review/face/{second.id}/")
    assert page.locator(".va-mark").count() == 2
    page.screenshot(path=str(artifacts_dir / "review-next-item.png"), full_page=True)

    decision = Decision.objects.get(face=first)
    assert decision.reviewer == reviewer_user and decision.source == "manual"
    assert Flag.objects.get(face=first).status == "resolved"
    first.refresh_from_db()
    # The export writes face_final_label (annotator.selectors), so this is the exported label.
    assert face_final_label(first) == Label(3, pytest.approx(0.15), pytest.approx(0.87))

    # On the second face: key 4 sets Fear with the point where it is, the mouse drags the point.
    page.keyboard.press("4")
    box = page.locator(".va-disc").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx - box["width"] / 4, cy - box["height"] / 4, steps=5)
    page.mouse.up()
    page.click("#decide")
    page.wait_for_url(f"{live_server.url}/review/?done={second.id}")
    second.refresh_from_db()
    label = face_final_label(second)
    assert label.category == 4
    assert label.valence == pytest.approx(-0.5, abs=0.03) and label.arousal == pytest.approx(0.5, abs=0.03)
    assert "Nothing to review" in page.content()

    # The export writes the reviewers' decisions, read back as a training script reads them.
    affectnet_export(out=data_root / "export", progress=False)
    annotations = data_root / "export" / "val_set" / "annotations"
    assert int(np.load(annotations / f"{first.id}_exp.npy")) == 3
    assert float(np.load(annotations / f"{first.id}_val.npy")) == pytest.approx(0.15, abs=1e-6)
    assert float(np.load(annotations / f"{first.id}_aro.npy")) == pytest.approx(0.87, abs=1e-6)
    assert int(np.load(annotations / f"{second.id}_exp.npy")) == 4
    assert float(np.load(annotations / f"{second.id}_val.npy")) == pytest.approx(label.valence, abs=1e-6)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_dashboard_draws_its_charts(page, live_server, data_root, admin_user_role, annotator_user, second_annotator,
                                   artifacts_dir):
    model = suggester()
    for i, (c1, c2) in enumerate([(1, 1), (1, 3), (0, 0), (6, 5), (2, 2), (1, 1)]):
        face = make_face(split="val" if i % 2 else "train")
        answer(face, annotator_user, c1, 0.1 * i - 0.2, 0.5 - 0.1 * i, seconds_spent=3 + i)
        answer(face, second_annotator, c2, 0.1 * i - 0.1, 0.4 - 0.1 * i, seconds_spent=4 + i, shown_blind=i == 2)
        suggest(face, model, c1, 0.1 * i, 0.3)
    browser_login(page, live_server, admin_user_role, next_path="/review/dashboard/")
    assert page.locator("#chart-categories svg rect.bar").count() == 33
    assert page.locator("#chart-confusion-model svg rect.cell").count() == 121
    assert page.locator("#chart-va svg rect").count() >= 1
    # Seen, not only drawn: what lies at each bin's centre is the bin, not the disc outline painted over it.
    on_top = page.evaluate("""() => [...document.querySelectorAll('#chart-va svg rect')].map(r => {
        r.scrollIntoView({block: "center"});
        const b = r.getBoundingClientRect();
        return document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2) === r; })""")
    assert on_top and all(on_top), on_top
    disc = page.locator("#chart-va circle.va-disc-outline").evaluate("c => getComputedStyle(c).fill")
    assert disc == "none", disc
    assert "0.607" in page.locator("#agreement-table").inner_text()
    page.screenshot(path=str(artifacts_dir / "review-dashboard.png"), full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_imported_label_under_question_reads_as_final_and_why_it_is_listed(page, live_server, data_root,
                                                                              reviewer_user, annotator_user):
    from annotator.models import Annotation, Face
    from reviews.flagging import face_flags_evaluate

    face = make_face(required=1)
    Annotation.objects.create(face=face, annotator=annotator_user, category=1, valence=-0.8, arousal=-0.5,
                              imported=True)
    Face.objects.filter(pk=face.pk).update(answer_count=1, final_category=1, final_valence=-0.8, final_arousal=-0.5,
                                           final_source="import")
    suggest(face, suggester(), 6, -0.5, 0.6, confidence=0.95)
    face_flags_evaluate(face_id=face.id)

    browser_login(page, live_server, reviewer_user, next_path=f"/review/face/{face.id}/")
    page.wait_for_selector("#flags .evidence")
    assert page.locator("#final-now").inner_text() == (
        "Now: 1 Happiness (-0.80, -0.50), imported: exported as it is until a reviewer decides")
    evidence = page.locator("#flags .evidence").all_inner_texts()
    assert evidence[0].startswith("the model disagrees with the imported label · A: 1 Happiness")
    assert any(text.startswith("the imported point is outside its category's region") for text in evidence)
    assert set(page.locator("#flags .reason").all_inner_texts()) == {"imported label questioned"}
