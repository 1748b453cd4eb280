"""Gold status is the core's own field (Face.is_gold), set by the review app's gold service and read
by the queue; the migration sets it for the gold items there were."""
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from annotator.domain.labels import Label
from annotator.faces.services import face_gold_set
from annotator.models import Claim, Face
from reviews.models import GoldItem
from reviews.services import gold_mark, gold_unmark
from tests.project_helpers import set_policy
from tests.queue.test_queue import client_for, make_face, next_faces, submit


@pytest.fixture
def queue_settings(settings):
    """No blind or gold draws unless a test asks (as tests.queue.test_queue's policy)."""
    set_policy(blind_share=0.0, gold_share=0.0)
    set_policy(queue_order="rare_first")
    return settings


@pytest.mark.django_db
def test_marking_and_unmarking_gold_flips_the_faces_field(admin_user_role):
    face, other = make_face(1), make_face(2)
    gold_mark(face=face, category=1, valence=0.6, arousal=0.3, by=admin_user_role)
    assert list(Face.objects.filter(is_gold=True)) == [face]
    gold_mark(face=face, category=2, valence=-0.6, arousal=-0.3, by=admin_user_role)  # a new label: still gold
    assert Face.objects.get(pk=face.pk).is_gold
    assert gold_unmark(face=face) is True
    assert not Face.objects.filter(is_gold=True).exists()
    assert gold_unmark(face=other) is False and not Face.objects.get(pk=other.pk).is_gold


@pytest.mark.django_db
def test_the_queue_mixes_in_the_faces_marked_gold_in_the_core(queue_settings, annotator_user, second_annotator):
    """The gold share reads Face.is_gold: a full face is handed out again exactly while it says gold."""
    set_policy(gold_share=1.0)
    full = make_face(1)
    first = client_for(annotator_user)
    assert [f["id"] for f in next_faces(first)] == [full.id]
    assert submit(first, full.id).status_code == 201
    second = client_for(second_annotator)
    assert next_faces(second) == []  # full, and not gold
    face_gold_set(face_id=full.id, gold=True, label=Label(1, 0.6, 0.3))
    assert [f["id"] for f in next_faces(second)] == [full.id]
    Claim.objects.filter(annotator=second_annotator).delete()
    face_gold_set(face_id=full.id, gold=False)
    assert next_faces(second) == []


@pytest.mark.django_db(transaction=True)
def test_the_migration_marks_the_gold_items_there_were():
    executor = MigrationExecutor(connection)
    before = [("annotator", "0007_face_is_gold"), ("reviews", "0003_imported_label_flags")]
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    OldFace, OldGoldItem = apps.get_model("annotator", "Face"), apps.get_model("reviews", "GoldItem")
    gold = OldFace.objects.create(image="a.jpg", content_hash="a")
    plain = OldFace.objects.create(image="b.jpg", content_hash="b")
    OldGoldItem.objects.create(face=gold, category=1, valence=0.6, arousal=0.3)
    assert not OldFace.objects.filter(is_gold=True).exists()

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert Face.objects.get(pk=gold.pk).is_gold and not Face.objects.get(pk=plain.pk).is_gold
    assert GoldItem.objects.get().face_id == gold.pk


@pytest.mark.django_db
def test_the_admin_marks_and_deletes_gold_items_through_the_service(admin_client):
    face, other = make_face(1), make_face(2)
    added = admin_client.post("/admin/reviews/golditem/add/",
                              {"face": face.id, "category": 1, "valence": 0.6, "arousal": 0.3})
    assert added.status_code == 302 and Face.objects.get(pk=face.pk).is_gold
    gold_mark(face=other, category=2, valence=-0.6, arousal=-0.3, by=None)
    one = GoldItem.objects.get(face=face)
    assert admin_client.post(f"/admin/reviews/golditem/{one.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Face.objects.get(pk=face.pk).is_gold and Face.objects.get(pk=other.pk).is_gold
    gold_mark(face=face, category=1, valence=0.6, arousal=0.3, by=None)
    chosen = list(GoldItem.objects.values_list("pk", flat=True))
    bulk = admin_client.post("/admin/reviews/golditem/", {"action": "delete_selected", "_selected_action": chosen,
                                                           "post": "yes"})
    assert bulk.status_code == 302 and not GoldItem.objects.exists()
    assert not Face.objects.filter(is_gold=True).exists()
