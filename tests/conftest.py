"""Shared fixtures: users of each role, and data/media folders that the settings allow."""
import pytest
from django.contrib.auth.models import Group, User


def make_user(username, *roles, password="pw-for-tests-123", projects=None):
    """A user with these roles, a member of `projects` (default: the default project, which every test
    database has, as an instance of one project does)."""
    from annotator.models import Project, ProjectMembership

    user = User.objects.create_user(username=username, password=password)
    for role in roles:
        # get_or_create: a transactional (browser) test flushes the groups that migration 0002 made.
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    for project in (projects if projects is not None else [Project.objects.default()]):
        ProjectMembership.objects.get_or_create(project=project, user=user)
    return user


@pytest.fixture(autouse=True)
def _nothing_cached():
    """Each test starts with an empty cache: the dashboard keeps its figures for minutes."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def annotator_user(db):
    return make_user("ann1", "annotator")


@pytest.fixture
def second_annotator(db):
    return make_user("ann2", "annotator")


@pytest.fixture
def reviewer_user(db):
    return make_user("rev1", "reviewer")


@pytest.fixture
def admin_user_role(db):
    user = make_user("admin1", "admin")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def data_root(tmp_path, settings):
    """A folder under DATA_ROOTS for imports and exports; media goes to a temporary folder too."""
    root = tmp_path / "data"
    root.mkdir()
    settings.DATA_ROOTS = [root.resolve()]
    settings.MEDIA_ROOT = tmp_path / "media"
    return root


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    """A real headless Chromium (Debian's), driven by Playwright."""
    import os

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    yield page
    context.close()


def browser_login(page, live_server, user, password="pw-for-tests-123", next_path="/"):
    """Sign in through the real login form."""
    page.goto(f"{live_server.url}/accounts/login/?next={next_path}")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


@pytest.fixture
def artifacts_dir():
    """Where tests save screenshots for people to look at."""
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


def wait_for(predicate, timeout=10.0, what="condition", interval=0.05):
    """Poll predicate until it returns something truthy; return that, or fail after timeout seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def eager_tasks():
    """Tasks run in this process when sent (CELERY_TASK_ALWAYS_EAGER), errors raised: a sweep's next
    batch runs only if the task queues it."""
    from annotator.config.celery import app

    old = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = old


def install_default_guidelines():
    """Install the default guidelines in the default project as the product ships them, unless it has
    guidelines (the test database has them from the migration until a transactional test flushes it)."""
    from annotator.models import Project, guidelines_install_defaults

    guidelines_install_defaults(Project.objects.default())


@pytest.fixture
def default_guidelines(db):
    """The 11 default guidelines (version 1)."""
    from annotator.models import Guideline

    install_default_guidelines()
    return Guideline.objects.order_by("category")
