"""Face crops: served only through /api/faces/<id>/image/ (login, role, project), cached privately by the
browser, revalidated with a 304; the storage path itself is served by no route."""
import pytest
from django.test import Client

from annotator.models import Face
from annotator.projects.services import project_create
from annotator.web.views import FACE_IMAGE_CACHE_CONTROL
from tests.conftest import make_user
from tests.review_factories import make_face

pytestmark = pytest.mark.django_db


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def face(data_root):
    return make_face()


def test_a_member_gets_the_crop_with_private_immutable_caching_and_an_etag(face, annotator_user):
    response = signed_in(annotator_user).get(f"/api/faces/{face.id}/image/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == face.image.open("rb").read()
    assert response["Cache-Control"] == FACE_IMAGE_CACHE_CONTROL
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "immutable"} <= cache_control and "public" not in cache_control
    assert response["ETag"] == f'"{face.content_hash}"'
    assert "Cookie" in response["Vary"]


def test_a_revalidation_with_the_etag_is_a_304_without_the_bytes(face, annotator_user):
    client = signed_in(annotator_user)
    etag = client.get(f"/api/faces/{face.id}/image/")["ETag"]
    again = client.get(f"/api/faces/{face.id}/image/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag and again["Cache-Control"] == FACE_IMAGE_CACHE_CONTROL
    # Another face's tag (or a stale one) gets the image.
    other = client.get(f"/api/faces/{face.id}/image/", HTTP_IF_NONE_MATCH='"0000"')
    assert other.status_code == 200


def test_another_projects_member_gets_404_even_with_the_right_etag(face):
    outsider = make_user("outsider", "annotator", projects=[project_create(slug="other", name="Other")])
    client = signed_in(outsider)
    assert client.get(f"/api/faces/{face.id}/image/").status_code == 404
    # A conditional request must not confirm that the face exists (a 304 would).
    assert client.get(f"/api/faces/{face.id}/image/", HTTP_IF_NONE_MATCH=f'"{face.content_hash}"').status_code == 404


def test_signed_out_is_sent_to_sign_in(face):
    response = Client().get(f"/api/faces/{face.id}/image/", HTTP_IF_NONE_MATCH=f'"{face.content_hash}"')
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_no_route_serves_the_stored_crop_by_its_storage_path(face, admin_user_role, settings):
    """The crop file exists under MEDIA_ROOT, yet neither MEDIA_URL nor static files nor the bare path serve it,
    not even to an admin (who may see every face through the image view)."""
    name = Face.objects.get(pk=face.id).image.name
    assert (settings.MEDIA_ROOT / name).is_file()
    admin = signed_in(admin_user_role)
    for path in (f"/{settings.MEDIA_URL}{name}", f"/media/{name}", f"/{name}", f"/static/{name}",
                 f"/static/../media/{name}", f"/{settings.STATIC_URL}../{settings.MEDIA_URL}{name}"):
        for client in (admin, Client()):
            response = client.get(path)
            assert response.status_code == 404, (path, response.status_code)
    assert admin.get(f"/api/faces/{face.id}/image/").status_code == 200
