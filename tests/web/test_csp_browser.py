"""The Content-Security-Policy in a real Chromium: every page runs under it without one violation,
and the API docs page renders from this server alone (every request elsewhere is aborted)."""
import pytest
from django.contrib.auth.models import Group

from annotator.web.roles import ROLES
from tests.conftest import make_user
from tests.project_helpers import set_policy
from tests.review_factories import answer, flag, make_face, suggest, suggester

PASSWORD = "pw-for-tests-123"

# Installed before any page script: every violation the browser reports is kept on window.__csp.
COLLECT_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(
  `${e.violatedDirective} blocked ${e.blockedURI || "(inline)"} at ${e.sourceFile}:${e.lineNumber} ${e.sample}`));
"""


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    """The roles come from a data migration, which a transactional test's flush removes."""
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def directives(header):
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


class Visitor:
    """One signed-in browser context that records CSP violations (events and console reports)."""

    def __init__(self, chromium, live_server, user=None):
        self.base = live_server.url
        self.context = chromium.new_context(viewport={"width": 1280, "height": 800})
        self.context.add_init_script(COLLECT_VIOLATIONS)
        self.page = self.context.new_page()
        self.console = []
        self.page.on("console", lambda m: self.console.append(m.text) if "Content Security Policy" in m.text else None)
        self.headers = {}
        if user is not None:
            self.visit("/accounts/login/", "input[name=username]")
            self.page.fill("input[name=username]", user.username)
            self.page.fill("input[name=password]", PASSWORD)
            self.page.click("button[type=submit]")
            self.page.wait_for_load_state("networkidle")
            assert "/accounts/login/" not in self.page.url, f"{user.username} did not sign in"

    def visit(self, path, ready):
        """Open path, wait until `ready` (a selector) is on the page and the network is quiet."""
        response = self.page.goto(self.base + path)
        assert response.status == 200, (path, response.status)
        self.headers[path] = response.headers.get("content-security-policy")
        self.page.wait_for_selector(ready, timeout=15000)
        self.page.wait_for_load_state("networkidle")
        self.page.wait_for_timeout(200)  # let late reports (after the last script ran) arrive
        return self.page

    def violations(self):
        return self.page.evaluate("window.__csp") + self.console

    def close(self):
        self.context.close()


def check(visitor, path, ready, problems):
    visitor.console.clear()
    visitor.visit(path, ready)
    found = visitor.violations()
    if found:
        problems[path] = found
    header = visitor.headers[path]
    assert header, f"{path} has no Content-Security-Policy header"
    policy = directives(header)
    assert policy["script-src"] == ["'self'"], (path, header)
    assert policy["style-src"] == ["'self'"], (path, header)
    assert "'unsafe-inline'" not in header and "'unsafe-eval'" not in header, (path, header)
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"], (path, header)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_every_page_runs_under_the_policy_without_a_violation(chromium, live_server, data_root, settings):
    set_policy(blind_share=0.0)
    set_policy(gold_share=0.0)
    annotator = make_user("ann1", "annotator")
    other = make_user("ann2", "annotator")
    reviewer = make_user("rev1", "reviewer")
    boss = make_user("boss", "admin")
    boss.is_staff = boss.is_superuser = True
    boss.save()

    model = suggester()
    flagged = make_face()
    answer(flagged, other, 1, 0.62, 0.31, seconds_spent=3.5)
    answer(flagged, make_user("ann3", "annotator"), 3, 0.15, 0.82, seconds_spent=5.0)
    suggest(flagged, model, 1, 0.5, 0.2, confidence=0.72)
    flag(flagged, severity=0.9)
    for _ in range(3):  # faces for the annotate page
        suggest(make_face(required=1), model, 1, 0.4, 0.3)

    problems = {}
    anonymous = Visitor(chromium, live_server)
    check(anonymous, "/accounts/login/", "input[name=password]", problems)
    anonymous.close()

    pages = [
        (annotator, [("/annotate/", "#stage img.face"), ("/review/me/", "#numbers")]),
        (reviewer, [
            ("/review/", "table.queue"),
            (f"/review/face/{flagged.id}/", "#answers .swatch"),
            ("/review/dashboard/", "#chart-va svg"),
        ]),
        (boss, [
            ("/photos/upload/", "#import-button"),
            ("/admin/", "#content-main"),
            ("/admin/annotator/face/", "#result_list"),
            (f"/admin/annotator/face/{flagged.id}/change/", "form#face_form"),
            (f"/admin/auth/user/{annotator.id}/change/", "#id_groups_to"),  # SelectFilter2 built its boxes
            ("/api/docs/", ".opblock"),
        ]),
    ]
    for user, visits in pages:
        visitor = Visitor(chromium, live_server, user)
        for path, ready in visits:
            check(visitor, path, ready, problems)
            if path.startswith("/review/face/"):
                # The swatches' colours are set through the style object, so they still show.
                colours = visitor.page.locator("#answers .swatch, #legend .swatch").evaluate_all(
                    "nodes => nodes.map(n => getComputedStyle(n).backgroundColor)")
                assert colours[:2] == ["rgb(79, 156, 249)", "rgb(245, 166, 35)"]
            if path == "/review/dashboard/":
                # The progress bars are <progress> elements now (no style="width: ..." in the markup).
                assert visitor.page.locator("#progress progress.progress-bar").count() >= 1
        visitor.close()
    assert problems == {}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_api_docs_render_with_every_outside_request_refused(chromium, live_server):
    user = make_user("ann1", "annotator")
    visitor = Visitor(chromium, live_server, user)
    elsewhere = []

    def only_here(route):
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    visitor.page.route("**/*", only_here)
    page = visitor.visit("/api/docs/", ".opblock")
    paths = page.locator(".opblock-summary-path").evaluate_all("nodes => nodes.map(n => n.textContent)")
    assert "/api/queue/next/" in paths and "/api/review/faces/{face_id}/decision/" in paths
    assert elsewhere == []
    assert visitor.violations() == []
    visitor.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_collector_does_see_a_violation(chromium, live_server):
    """The check above can fail: markup with a style attribute, put in by a script, is reported."""
    visitor = Visitor(chromium, live_server)
    page = visitor.visit("/accounts/login/", "input[name=password]")
    page.evaluate("document.querySelector('main').innerHTML += '<p style=\"color: red\">inline</p>'")
    page.wait_for_function("() => window.__csp.length > 0")
    assert any("style-src" in v for v in visitor.violations())
    visitor.close()
