"""Shared fixtures: users of each role, and data/media folders that the settings allow."""
import pytest
from django.contrib.auth.models import Group, User


def make_user(username, *roles, password="pw-for-tests-123"):
    user = User.objects.create_user(username=username, password=password)
    for role in roles:
        user.groups.add(Group.objects.get(name=role))
    return user


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
