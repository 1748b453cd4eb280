"""Every page as its users see it, in a real Chromium: at a phone's, a laptop's and a desktop's size
nothing overflows the viewport sideways and no text is clipped; each role's navigation leads only
to pages it may open; 403 and 404 use the site's layout; axe-core (from npm, served from
node_modules) finds no serious or critical violation.

One browser for the module (the session's), one page per test, reused across sizes and pages. The
screenshots land in test-artifacts/pages/ for people to look at.
"""
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from annotator.projects.services import project_create
from annotator.web.roles import ROLES
from reviews.flagging import desired_flags
from tests.conftest import browser_login, make_user
from tests.review_factories import answer, flag, make_face, suggest, suggester

SIZES = {"phone": (390, 844), "tablet": (1024, 768), "laptop": (1280, 720), "desktop": (1920, 1080)}
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"

# In the page: what overflows the viewport sideways, what text is clipped (an element that hides its
# overflow and is wider inside than out), and SVG chart text outside its <svg>.
LAYOUT_PROBLEMS = """() => {
  const out = [];
  const doc = document.documentElement;
  const name = (el) => el.id ? `#${el.id}` : `${el.tagName.toLowerCase()}.${[...el.classList].join(".")}`;
  if (doc.scrollWidth > doc.clientWidth) out.push(`page is ${doc.scrollWidth} px wide in a ${doc.clientWidth} px viewport`);
  const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const outside = (el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && (box.right > doc.clientWidth + 1 || box.left < -1);
  };
  for (const el of document.body.querySelectorAll("*")) {
    if (!shown(el) || el.closest("svg") || el.closest(".overlay[hidden]")) continue;
    const style = getComputedStyle(el);
    const text = (el.innerText || "").trim();
    if (["hidden", "clip"].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1 && text)
      out.push(`${name(el)} clips its text: ${el.scrollWidth} > ${el.clientWidth} (${text.slice(0, 40)})`);
    // the outermost element out of view (not each of its children); what a scroll box holds may be
    let scroller = null;
    for (let up = el.parentElement; up && !scroller; up = up.parentElement)
      if (["auto", "scroll"].includes(getComputedStyle(up).overflowX)) scroller = up;
    if (!scroller && outside(el) && !outside(el.parentElement)) {
      const box = el.getBoundingClientRect();
      out.push(`${name(el)} lies outside the viewport: ${Math.round(box.left)}..${Math.round(box.right)}`);
    }
  }
  // Chart text: inside its <svg>, and not cut off by a box around the chart that scrolls or clips.
  for (const text of document.querySelectorAll("svg text")) {
    if (!shown(text) || !text.textContent.trim()) continue;
    const box = text.getBoundingClientRect();
    const cuts = [text.ownerSVGElement];
    for (let up = text.ownerSVGElement.parentElement; up && up !== document.body; up = up.parentElement)
      if (getComputedStyle(up).overflowX !== "visible") { cuts.push(up); break; }
    for (const cut of cuts) {
      const c = cut.getBoundingClientRect();
      if (box.left < c.left - 1 || box.right > c.right + 1 || box.top < c.top - 1 || box.bottom > c.bottom + 1)
        out.push(`svg text "${text.textContent}" is cut by ${name(cut)} (${Math.round(box.right)} > ${Math.round(c.right)})`);
    }
  }
  return out;
}"""


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    """The roles come from a data migration, which a transactional test's flush removes."""
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def seed():
    """Faces in every state the pages show: flagged with evidence, answered, suggested, waiting."""
    ann, other = make_user("ann1", "annotator"), make_user("ann2", "annotator")
    reviewer = make_user("rev1", "reviewer")
    admin = make_user("admin1", "admin", "annotator", "reviewer")
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    model = suggester()
    flagged = []
    for i, (c1, c2) in enumerate([(1, 3), (6, 5), (2, 2), (1, 1), (4, 6)]):
        face = make_face()
        answers = [answer(face, ann, c1, 0.62 - 0.2 * i, 0.31, seconds_spent=3.5 + i),
                   answer(face, other, c2, 0.15, 0.82 - 0.3 * i, seconds_spent=5.0)]
        s = suggest(face, model, c1, 0.5, 0.2, confidence=0.72)
        for (reason, key), (evidence, severity) in desired_flags(annotations=answers, suggestion=s, gold=None).items():
            flag(face, reason=reason, key=key, severity=severity, evidence=evidence)
        flagged.append(face)
    for _ in range(6):  # faces waiting for an annotator
        suggest(make_face(), model, 1, 0.4, 0.3)
    # A second project: the admin (in every project) meets the project picker and the dashboard's overview.
    pilot = project_create(slug="pilot", name="Pilot study of posed expressions",
                           description="Forty posed faces, three annotators each", annotators_per_face=3)
    suggest(make_face(project=pilot), model, 2, -0.5, -0.2)
    return {"annotator": ann, "reviewer": reviewer, "admin": admin, "flagged": flagged}


# Every visible control, and whether the focused one shows a ring (an outline, or a box-shadow).
CONTROLS = """() => [...document.querySelectorAll(
    'a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select, textarea, [tabindex="0"]')]
    .filter(n => n.getClientRects().length && getComputedStyle(n).visibility !== 'hidden'
      && !n.closest('[hidden], [inert]') && n.tabIndex >= 0).map(n => n.outerHTML.slice(0, 80))"""
FOCUSED = """() => { const n = document.activeElement; if (!n || n === document.body) return null;
    const s = getComputedStyle(n);
    const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none';
    return {html: n.outerHTML.slice(0, 80), ring, named: !!(n.getAttribute('aria-label') || n.innerText.trim()
      || n.labels?.length || n.getAttribute('title') || n.getAttribute('aria-labelledby') || n.getAttribute('alt'))}; }"""


def keyboard_problems(page, presses=160):
    """Tab through the page: every visible control is reached, shows a focus ring, and has a name."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.mouse.move(0, 0)
    controls = set(page.evaluate(CONTROLS))
    reached, out = set(), []
    for _ in range(presses):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None or focused["html"] in reached:
            if reached >= controls:
                break
            continue
        reached.add(focused["html"])
        if not focused["ring"]:
            out.append(f"no focus ring on {focused['html']}")
        if not focused["named"]:
            out.append(f"no accessible name on {focused['html']}")
    out += [f"not reachable by Tab: {html}" for html in sorted(controls - reached)]
    return out


def layout_problems(page):
    return page.evaluate(LAYOUT_PROBLEMS)


def axe_serious(page):
    """axe-core's serious and critical violations on the page as it is now (the script is served
    from node_modules by the test: the CSP allows only the site's own scripts, so it goes in through
    Playwright, which bypasses the CSP)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` in the repository root (.ci/run does)")
    if not page.evaluate("() => !!window.axe"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:4]}"
            for v in result if v["impact"] in ("serious", "critical")]


@pytest.fixture
def bypass_csp_page(chromium):
    """A page whose scripts (axe-core) may be added despite the site's CSP."""
    context = chromium.new_context(viewport={"width": 1280, "height": 720}, bypass_csp=True)
    page = context.new_page()
    yield page
    context.close()


def pages_of(data):
    face = data["flagged"][0].id
    return [
        ("annotate-projects", "/annotate/"),  # the admin is in two projects: which one?
        ("annotate", "/annotate/?project=default"),
        ("annotate-guidelines", "/annotate/?project=default"),  # the keys and the guidelines (?), over the page
        ("review-queue", "/review/"),
        ("review-item", f"/review/face/{face}/"),
        ("dashboard-projects", "/review/dashboard/"),  # the projects side by side
        ("dashboard", "/review/dashboard/?project=default"),
        ("upload", "/photos/upload/"),
        ("console-splits", "/console/splits/"),
        ("spot-checks", "/review/spot-checks/"),
        ("feedback", "/review/me/"),
        ("not-found", "/no/such/page/", 404),
    ]


def settle(page, path, status=200):
    response = page.goto(path)
    assert response.status == status, f"{path}: {response.status}"
    page.wait_for_load_state("networkidle")
    if "/annotate/?project=" in path:
        page.wait_for_selector("#stage img.face")
        if page.locator("#guidelines-intro").is_visible():  # the first visit's guidelines, read once
            page.click("#guidelines-done")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_every_page_fits_every_size_and_axe_finds_nothing_serious(bypass_csp_page, live_server, artifacts_dir):
    page = bypass_csp_page
    data = seed()
    out = artifacts_dir / "pages"
    out.mkdir(exist_ok=True)
    problems = {}

    page.goto(f"{live_server.url}/accounts/login/")
    for size, (w, h) in SIZES.items():
        page.set_viewport_size({"width": w, "height": h})
        page.screenshot(path=str(out / f"login-{size}.png"), full_page=True)
        problems[f"login {size}"] = layout_problems(page)
    problems["login axe"] = axe_serious(page)

    browser_login(page, live_server, data["admin"])
    page.set_default_navigation_timeout(20000)
    for name, path, *status in pages_of(data):
        page.set_viewport_size({"width": 1280, "height": 720})
        settle(page, live_server.url + path, *status)
        if name == "annotate-guidelines":
            page.keyboard.press("?")
            assert page.locator("#help").is_visible()
        page.mouse.move(0, 0)  # no hover tooltip in the pictures
        for size, (w, h) in SIZES.items():
            page.set_viewport_size({"width": w, "height": h})
            page.wait_for_timeout(50)
            page.screenshot(path=str(out / f"{name}-{size}.png"), full_page=True)
            problems[f"{name} {size}"] = layout_problems(page)
        problems[f"{name} axe"] = axe_serious(page)
        page.set_viewport_size({"width": 1280, "height": 720})
        page.wait_for_timeout(250)  # the page's resize handlers (scroll boxes made focusable or not) have run
        if name != "annotate-guidelines":  # the overlay is for reading (Esc closes it)
            problems[f"{name} keyboard"] = keyboard_problems(page)

    # the 403 page, as an annotator meets it
    page.context.clear_cookies()
    browser_login(page, live_server, data["annotator"])
    settle(page, f"{live_server.url}/review/dashboard/", 403)
    for size, (w, h) in SIZES.items():
        page.set_viewport_size({"width": w, "height": h})
        page.screenshot(path=str(out / f"forbidden-{size}.png"), full_page=True)
        problems[f"forbidden {size}"] = layout_problems(page)
    problems["forbidden axe"] = axe_serious(page)

    found = {k: v for k, v in problems.items() if v}
    assert not found, "\n".join(f"{k}: {p}" for k, v in found.items() for p in v)
