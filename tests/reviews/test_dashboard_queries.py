"""The dashboard and the feedback page cost the same number of queries whatever the number of
annotators (no query per annotator), and the median seconds per annotator stay right."""
import statistics

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotator.models import Project
from annotator.projects.services import project_create
from reviews.dashboard import _medians_seconds, dashboard_data, projects_overview
from reviews.selectors import annotator_feedback
from tests.conftest import make_user
from tests.review_factories import answer, make_face


def queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_queries_do_not_grow_with_the_number_of_annotators(data_root):
    face = make_face()
    users = [make_user(f"a{i}", "annotator") for i in range(2)]
    for u in users:
        answer(face, u, 1, 0.5, 0.5)
    project = Project.objects.default()

    def both():
        return (queries(lambda: dashboard_data(project=project)),
                queries(lambda: annotator_feedback(annotator=users[0], scope={project.pk})))

    few = both()
    for i in range(2, 7):
        answer(make_face(), make_user(f"a{i}", "annotator"), 2, -0.5, -0.3)
    assert both() == few


@pytest.mark.django_db
def test_the_projects_overview_costs_the_same_queries_for_one_project_or_five(data_root):
    """One GROUP BY project query per figure, not a query per project."""
    def one_face_answered_twice(project):
        face = make_face(project=project)
        for i in range(2):
            answer(face, make_user(f"{project.slug}-{i}", "annotator", projects=[project]), i, 0.5, 0.5)

    one_face_answered_twice(Project.objects.default())
    one = queries(lambda: projects_overview(Project.objects.all()))
    for n in range(4):
        one_face_answered_twice(project_create(slug=f"p{n}", name=f"P{n}"))
    assert Project.objects.count() == 5
    assert queries(lambda: projects_overview(Project.objects.all())) == one


@pytest.mark.django_db
def test_median_seconds_per_annotator_odd_even_and_ties(data_root):
    seconds = {"odd": [5.0, 1.0, 3.0], "even": [4.0, 1.0, 9.0, 2.0], "one": [7.5], "ties": [2.0, 2.0, 2.0, 8.0]}
    ids = {}
    for name, values in seconds.items():
        user = make_user(name, "annotator")
        ids[user.id] = statistics.median(values)
        for s in values:
            answer(make_face(), user, 1, 0.5, 0.5, seconds_spent=s)
    assert _medians_seconds(Project.objects.default()) == pytest.approx(ids)


@pytest.mark.django_db
def test_the_annotators_table_counts_kept_and_changed_suggestions_and_blind_matches(data_root):
    """kept suggestion = kept / shown (answers given with a suggestion in view); matched model when blind =
    the blind answers naming the model's category: both directions of each count."""
    from tests.review_factories import suggest, suggester

    model = suggester()
    worker = make_user("kept", "annotator")
    shown = []
    for kept in (True, False, False, True):  # shown the model's Happy; kept it twice, changed it twice
        face = make_face(required=1)
        shown.append(suggest(face, model, 1, 0.5, 0.3))
        answer(face, worker, 1 if kept else 6, 0.5 if kept else -0.5, 0.3, suggestion=shown[-1],
               kept_suggestion=kept, shown_blind=False)
    for category in (2, 3, 3):  # blind, the model says Sad (2): one match in three
        face = make_face(required=1)
        suggest(face, model, 2, -0.5, -0.3)
        answer(face, worker, category, -0.5, -0.3, shown_blind=True)
    row = next(r for r in dashboard_data(project=Project.objects.default())["annotators"]
               if r["annotator"] == "kept")
    assert (row["answers"], row["shown"], row["kept_rate"]) == (7, 4, 0.5)
    assert (row["blind"], row["blind_match_rate"]) == (3, pytest.approx(1 / 3))
