"""The annotate page's pace: answers today and faces/hour from the annotator's own stored answers."""
from datetime import timedelta

import pytest
from django.utils import timezone

from annotator.models import Annotation
from annotator.queue.selectors import PACE_ANSWERS, annotator_pace, faces_per_hour
from tests.review_factories import make_face


def stored(user, seconds, *, ago=timedelta(0), imported=False):
    a = Annotation.objects.create(face=make_face(), annotator=user, category=10, seconds_spent=seconds, imported=imported)
    Annotation.objects.filter(pk=a.pk).update(created_at=timezone.now() - ago)


@pytest.mark.django_db
def test_pace_counts_only_this_annotators_recent_answers(annotator_user, second_annotator):
    stored(annotator_user, 10.0)
    stored(annotator_user, 20.0, ago=timedelta(minutes=5))
    stored(annotator_user, 99.0, ago=timedelta(hours=9))  # before the window
    stored(annotator_user, 50.0, imported=True)  # not given on this page
    stored(second_annotator, 1.0)  # someone else's
    pace = annotator_pace(annotator=annotator_user)
    assert pace["recent_seconds"] == [20.0, 10.0]  # oldest first
    assert faces_per_hour(pace["recent_seconds"]) is None  # two faces are no pace yet


@pytest.mark.django_db
def test_faces_per_hour_over_the_last_answers(annotator_user):
    for _ in range(PACE_ANSWERS + 5):
        stored(annotator_user, 12.0)
    pace = annotator_pace(annotator=annotator_user)
    assert len(pace["recent_seconds"]) == PACE_ANSWERS
    assert faces_per_hour(pace["recent_seconds"]) == pytest.approx(300.0)  # 12 s a face
    assert pace["done_today"] == PACE_ANSWERS + 5


def test_one_quick_face_is_no_pace():
    assert faces_per_hour([1.0]) is None
    assert faces_per_hour([6.0] * 5) == pytest.approx(600.0)
