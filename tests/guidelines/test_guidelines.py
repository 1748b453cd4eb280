"""Guidelines: the shipped defaults, versions (an edit adds one), the admin, the read record, and the
version each answer records (set by the server)."""
import json
import uuid

import pytest
from django.test import Client

from annotator.domain.categories import CATEGORY_NAMES
from annotator.guidelines import selectors, services
from annotator.models import Annotation, Guideline, GuidelineReading
from tests.conftest import make_user
from tests.project_helpers import set_policy
from tests.queue.test_queue import make_face, make_suggestion, next_faces


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def page_config(client):
    html = client.get("/annotate/").content.decode()
    start = html.index('<script id="annotate-config" type="application/json">') + len(
        '<script id="annotate-config" type="application/json">')
    return json.loads(html[start:html.index("</script>", start)]), html


@pytest.mark.django_db
def test_defaults_define_every_category_with_its_confusions(default_guidelines):
    rows = list(default_guidelines)
    assert [g.category for g in rows] == list(range(11))
    assert {g.version for g in rows} == {1}
    for g in rows:
        assert g.definition.startswith(CATEGORY_NAMES[g.category]) and g.not_this.startswith("Not ")
    by = {g.category: g for g in rows}
    # The confusions the issue names are spelled out both ways.
    assert "(Disgust)" in by[7].not_this and "(Contempt)" in by[5].not_this
    assert "(Uncertain)" in by[8].not_this and "(None)" in by[9].not_this
    assert selectors.guideline_version_current() == 1


@pytest.mark.django_db
def test_an_edit_adds_a_version_and_the_old_set_stays_readable(default_guidelines, admin_user_role):
    old_contempt = Guideline.objects.get(category=7).definition
    edited = services.guideline_save(category=7, definition="Contempt: a one-sided smirk.", not_this="Not Disgust.",
                                     by=admin_user_role)
    assert (edited.version, edited.created_by) == (2, admin_user_role)
    services.guideline_save(category=1, definition="Happiness: a smile.")
    assert selectors.guideline_version_current() == 3
    assert Guideline.objects.filter(category=7).count() == 2  # nothing overwritten
    now, then = selectors.guidelines_at(), selectors.guidelines_at(version=1)
    assert now.version == 3 and now.by_category[7].definition == "Contempt: a one-sided smirk."
    assert now.by_category[0].version == 1  # untouched categories keep their row
    assert then.by_category[7].definition == old_contempt and then.by_category[1].version == 1
    assert selectors.guidelines_at(version=2).by_category[1].version == 1


@pytest.mark.django_db
def test_example_faces_exist_are_few_and_never_gold(default_guidelines):
    faces = [make_face(n) for n in range(5)]
    saved = services.guideline_save(category=3, definition="Surprise.", example_face_ids=[faces[0].pk, str(faces[1].pk)])
    assert saved.example_face_ids == [faces[0].pk, faces[1].pk]
    [surprise] = [g for g in selectors.guidelines_for_page(selectors.guidelines_at()) if g["category"] == 3]
    assert surprise["examples"] == [f"/api/faces/{faces[0].pk}/image/", f"/api/faces/{faces[1].pk}/image/"]
    faces[2].is_gold = True
    faces[2].save(update_fields=["is_gold"])
    for ids, words in (([f.pk for f in faces[:4]], "at most 3"), ([999999], "no face 999999"),
                       ([faces[2].pk], "gold"), (["x"], "not a face id")):
        with pytest.raises(services.GuidelineError, match=words) as refused:
            services.guideline_save(category=3, definition="Surprise.", example_face_ids=ids)
        assert refused.value.field == "example_face_ids"
    with pytest.raises(services.GuidelineError) as refused:
        services.guideline_save(category=3, definition="   ")
    assert refused.value.field == "definition"
    assert selectors.guideline_version_current() == 2


@pytest.mark.django_db
def test_admin_edit_stores_a_new_version_and_deletes_nothing(default_guidelines, admin_user_role):
    admin_user_role.is_superuser = True  # the admin role with the model permissions (quickstart's admin)
    admin_user_role.save(update_fields=["is_superuser"])
    client = client_for(admin_user_role)
    face = make_face(1)
    contempt = Guideline.objects.get(category=7)
    response = client.post(f"/admin/annotator/guideline/{contempt.pk}/change/", {
        "category": 7, "definition": "Contempt, edited.", "not_this": "Not Disgust.", "example_faces": f"{face.pk}",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    contempt.refresh_from_db()
    assert contempt.version == 1 and contempt.definition != "Contempt, edited."  # the old version is kept
    new = Guideline.objects.get(category=7, version=2)
    assert (new.definition, new.example_face_ids, new.created_by) == ("Contempt, edited.", [face.pk], admin_user_role)
    refused = client.post(f"/admin/annotator/guideline/{new.pk}/change/", {
        "category": 7, "definition": "Contempt.", "not_this": "", "example_faces": "999999",
    })
    assert refused.status_code == 200 and "no face 999999" in refused.content.decode()
    assert client.get(f"/admin/annotator/guideline/{new.pk}/delete/").status_code == 403
    assert Guideline.objects.count() == 12
    listing = client.get("/admin/annotator/guideline/")
    assert listing.status_code == 200 and "Contempt, edited." in listing.content.decode()


@pytest.mark.django_db
def test_answers_record_the_servers_guideline_version_not_the_clients(default_guidelines, annotator_user, settings):
    set_policy(blind_share=0.0, gold_share=0.0)
    client = client_for(annotator_user)
    face = make_face(1)
    make_suggestion(face, category=1)
    next_faces(client)
    body = {"face": face.pk, "category": 1, "valence": 0.5, "arousal": 0.2, "client_key": str(uuid.uuid4()),
            "guideline_version": 99}
    response = client.post("/api/annotations/", body, content_type="application/json")
    assert response.status_code == 201 and response.json()["guideline_version"] == 1
    answer = Annotation.objects.get()
    assert answer.guideline_version == 1
    # An answer changed after an edit is given under the new version.
    services.guideline_save(category=1, definition="Happiness, edited.")
    changed = client.patch(f"/api/annotations/{answer.pk}/", {"category": 0, "valence": 0.0, "arousal": 0.0,
                                                               "guideline_version": 1}, content_type="application/json")
    assert changed.status_code == 200 and changed.json()["guideline_version"] == 2
    assert Annotation.objects.get().guideline_version == 2


@pytest.mark.django_db
def test_without_guidelines_answers_record_none(annotator_user, settings):
    set_policy(blind_share=0.0, gold_share=0.0)
    Guideline.objects.all().delete()
    client = client_for(annotator_user)
    face = make_face(1)
    next_faces(client)
    response = client.post("/api/annotations/", {"face": face.pk, "category": 9, "client_key": str(uuid.uuid4())},
                           content_type="application/json")
    assert response.status_code == 201 and response.json()["guideline_version"] is None
    config, html = page_config(client)
    assert config["guideline_version"] is None and config["show_guidelines"] is False
    assert 'id="guidelines-intro"' not in html


@pytest.mark.django_db
def test_the_page_shows_the_guidelines_until_the_annotator_has_read_them(default_guidelines, annotator_user):
    client = client_for(annotator_user)
    config, html = page_config(client)
    assert config["show_guidelines"] is True and config["guideline_version"] == 1
    assert config["categories"][7]["guideline"]["definition"].startswith("Contempt")
    assert 'id="guidelines-intro"' in html and "Contempt: one lip corner" in html
    for bad, field in (({"version": 5}, "version"), ({"version": "one"}, "version"), ({}, "version")):
        refused = client.post("/api/guidelines/read/", bad, content_type="application/json")
        assert refused.status_code == 400 and field in refused.json(), refused.content
    assert client.post("/api/guidelines/read/", {"version": 1}, content_type="application/json").status_code == 204
    assert client.post("/api/guidelines/read/", {"version": 1}, content_type="application/json").status_code == 204
    assert GuidelineReading.objects.filter(user=annotator_user, version=1).count() == 1
    assert page_config(client)[0]["show_guidelines"] is False
    # Another annotator has not read them.
    assert page_config(client_for(make_user("ann7", "annotator")))[0]["show_guidelines"] is True


@pytest.mark.django_db
def test_guidelines_text_is_escaped_on_the_page(default_guidelines, annotator_user):
    services.guideline_save(category=2, definition="Sadness <script>alert(1)</script> & tears")
    html = page_config(client_for(annotator_user))[1]
    assert "<script>alert(1)</script>" not in html and "Sadness &lt;script&gt;" in html


@pytest.mark.django_db
def test_guidelines_api_lists_the_current_set(default_guidelines, reviewer_user):
    services.guideline_save(category=4, definition="Fear, edited.")
    data = client_for(reviewer_user).get("/api/guidelines/").json()
    assert data["version"] == 2 and len(data["guidelines"]) == 11
    assert data["guidelines"][4]["definition"] == "Fear, edited." and data["guidelines"][4]["name"] == "Fear"
