"""final_source says what happened: one annotator, annotators agree, reviewer, imported, gold; gold, like a
review or an import, is decided (answers do not replace it); the migration names the rows there were."""
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from annotator.faces.services import face_refresh_final_label
from annotator.models import DECIDED_SOURCES, Annotation, Face, FinalSource
from reviews.services import decision_make, gold_mark, gold_unmark
from tests.queue.test_queue import make_face


def answer(face, user, category=1, valence=0.6, arousal=0.3):
    Annotation.objects.create(face=face, annotator=user, category=category, valence=valence, arousal=arousal)
    Face.objects.filter(pk=face.pk).update(answer_count=face.annotations.count())
    return face_refresh_final_label(face_id=face.pk)


@pytest.mark.django_db
def test_each_way_to_a_final_label_has_its_source(annotator_user, second_annotator, reviewer_user, admin_user_role):
    assert set(DECIDED_SOURCES) == {FinalSource.REVIEW, FinalSource.IMPORT, FinalSource.GOLD}
    one = make_face(1)
    assert answer(one, annotator_user).final_source == FinalSource.SINGLE
    two = make_face(2, required=2)
    answer(two, annotator_user, valence=0.6)
    agreed = answer(two, second_annotator, valence=0.4)
    assert agreed.final_source == FinalSource.AGREEMENT and agreed.final_valence == pytest.approx(0.5)

    gold = make_face(3, required=2)
    answer(gold, annotator_user, category=2, valence=-0.6, arousal=-0.3)
    gold_mark(face=gold, category=1, valence=0.7, arousal=0.2, by=admin_user_role)
    gold.refresh_from_db()
    assert (gold.final_category, gold.final_valence, gold.final_source) == (1, 0.7, FinalSource.GOLD)
    answer(gold, second_annotator, category=2, valence=-0.6, arousal=-0.3)  # agrees with the first: still gold
    gold.refresh_from_db()
    assert (gold.final_category, gold.final_source) == (1, FinalSource.GOLD)
    assert gold_unmark(face=gold)
    gold.refresh_from_db()
    assert (gold.final_category, gold.final_source) == (2, FinalSource.AGREEMENT)  # the answers' label again

    decision_make(face=one, reviewer=reviewer_user, category=3, valence=0.1, arousal=0.6)
    one.refresh_from_db()
    assert (one.final_category, one.final_source) == (3, FinalSource.REVIEW)


@pytest.mark.django_db(transaction=True)
def test_the_migration_names_single_answers_and_gold_references():
    executor = MigrationExecutor(connection)
    before = [("annotator", "0007_face_is_gold"), ("reviews", "0004_gold_faces_marked_in_core")]
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    OldFace, OldGoldItem = apps.get_model("annotator", "Face"), apps.get_model("reviews", "GoldItem")
    OldAnnotation, OldUser = apps.get_model("annotator", "Annotation"), apps.get_model("auth", "User")
    users = [OldUser.objects.create(username=f"u{i}") for i in range(2)]

    def face(n, answers, final=(1, 0.6, 0.3), gold=None):
        f = OldFace.objects.create(image=f"{n}.jpg", content_hash=f"h{n}", answer_count=answers, is_gold=bool(gold),
                                   final_category=final[0], final_valence=final[1], final_arousal=final[2],
                                   final_source="agreement")
        for user in users[:answers]:
            OldAnnotation.objects.create(face=f, annotator=user, category=final[0], valence=final[1],
                                         arousal=final[2])
        if gold:
            OldGoldItem.objects.create(face=f, category=gold[0], valence=gold[1], arousal=gold[2])
        return f.pk

    single, agreed = face(1, 1), face(2, 2)
    gold_same, gold_other = face(3, 1, gold=(1, 0.6, 0.3)), face(4, 2, gold=(2, -0.6, -0.3))
    no_face_gold = face(5, 1, final=(10, None, None), gold=(10, None, None))

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    sources = dict(Face.objects.values_list("id", "final_source"))
    assert sources == {single: "single", agreed: "agreement", gold_same: "gold", gold_other: "agreement",
                       no_face_gold: "gold"}

    executor = MigrationExecutor(connection)
    executor.migrate(before)  # and back
    apps = executor.loader.project_state(before).apps
    back = dict(apps.get_model("annotator", "Face").objects.values_list("id", "final_source"))
    assert set(back.values()) == {"agreement"}
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
