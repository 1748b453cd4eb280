"""The reads that must stay quick at a million faces (issue 19): the review queue's pages by cursor and
its capped counts, and the admin's change lists without a COUNT(*) over the table.

Behaviour only (the order, the rows, what is said about the counts, which SQL runs); the speed is
measured by `bench_reads`, never here.
"""
import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from annotator.models import Face, Project
from annotator.web import admin_paging
from reviews import selectors
from reviews.models import Flag
from tests.review_factories import flag, make_face


def client_for(user):
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def queue(data_root):
    """Seven flagged faces; the third has two open flags (its most severe places it) and a closed one.
    Returns the face ids in the queue's order."""
    faces = [make_face() for _ in range(7)]
    severities = [0.3, 0.8, 0.5, 0.95, 0.1, 0.6, 0.7]
    for face, severity in zip(faces, severities):
        flag(face, severity=severity)
    flag(faces[2], reason=Flag.Reason.ANNOTATOR_VS_MODEL, severity=0.99, key="second")  # now the most severe
    closed = flag(faces[4], reason=Flag.Reason.OUTSIDE_REGION, severity=1.0, key="closed")
    Flag.objects.filter(pk=closed.pk).update(status=Flag.Status.CLOSED)  # a closed flag places nothing
    order = sorted(range(7), key=lambda i: -(0.99 if i == 2 else severities[i]))
    return [faces[i].id for i in order]


@pytest.mark.django_db
def test_queue_pages_by_cursor_give_every_face_once_in_order(queue, reviewer_user):
    c = client_for(reviewer_user)
    seen, after, pages = [], "", 0
    while True:
        data = c.get("/api/review/queue/", {"limit": 3, **({"after": after} if after else {})}).json()
        seen += [r["face_id"] for r in data["results"]]
        pages += 1
        if data["next"] is None:
            break
        after = data["next"]
    assert seen == queue and pages == 3
    first = c.get("/api/review/queue/", {"limit": 3}).json()
    assert first["results"][0]["flag_count"] == 2 and first["results"][0]["severity"] == 0.99
    assert (first["count"], first["count_capped"]) == (7, False)
    # the offset of the API's first version still reads the same rows
    assert [r["face_id"] for r in c.get("/api/review/queue/", {"limit": 3, "offset": 3}).json()["results"]] == queue[3:6]
    # with a reason, a face is placed by its flags of that reason
    by_reason = list(Flag.objects.filter(reason="annotator_vs_annotator", status="open").order_by("-severity")
                     .values_list("face_id", flat=True))
    only, after = [], ""
    while after is not None:
        data = c.get("/api/review/queue/", {"reason": "annotator_vs_annotator", "limit": 2,
                                            **({"after": after} if after else {})}).json()
        only += [(r["face_id"], r["flag_count"]) for r in data["results"]]
        after = data["next"]
    assert only == [(face_id, 1) for face_id in by_reason] and by_reason.index(queue[0]) == 4
    bad = c.get("/api/review/queue/", {"after": "not-a-cursor"})
    assert bad.status_code == 400 and "after" in bad.json()


@pytest.mark.django_db
def test_queue_pages_through_ties_of_severity_and_time(data_root, reviewer_user):
    """Flags of the same severity raised at the same instant: the flag id orders them, none is skipped."""
    faces = [make_face() for _ in range(5)]
    flags = [flag(face, severity=0.5) for face in faces]
    Flag.objects.filter(pk__in=[f.pk for f in flags]).update(created_at=flags[0].created_at)
    c = client_for(reviewer_user)
    seen, after = [], None
    while True:
        data = c.get("/api/review/queue/", {"limit": 2, **({"after": after} if after else {})}).json()
        seen += [r["face_id"] for r in data["results"]]
        if not (after := data["next"]):
            break
    assert seen == [f.face_id for f in sorted(flags, key=lambda f: f.pk)]


@pytest.mark.django_db
def test_queue_reads_of_the_flags_all_stop_early(queue, reviewer_user):
    """No read of the open flags without a LIMIT (the page, the counts, the next face), except the
    details of the faces on the page: what keeps the queue's cost flat however many flags are open."""
    c = client_for(reviewer_user)
    for url in ("/api/review/queue/", "/review/", f"/api/review/faces/{queue[0]}/", f"/review/face/{queue[0]}/"):
        with CaptureQueriesContext(connection) as ctx:
            assert c.get(url).status_code == 200
        unbounded = [q["sql"] for q in ctx.captured_queries
                     if 'FROM "reviews_flag"' in q["sql"] and not re.search(r"LIMIT \d+( OFFSET \d+)?\s*$", q["sql"])
                     and not re.search(r'"reviews_flag"\."face_id" (IN \(|= \d)', q["sql"])]
        assert not unbounded, (url, unbounded)


@pytest.mark.django_db
def test_queue_page_follows_next_links_to_the_last_face(queue, reviewer_user, monkeypatch):
    monkeypatch.setattr(selectors, "QUEUE_PAGE", 4)
    c = client_for(reviewer_user)
    first = c.get("/review/").content.decode()
    assert [int(x) for x in re.findall(r'<tr data-face="(\d+)"', first)] == queue[:4]
    link = re.search(r'href="\?after=([^"&]+)[^"]*" class="next-page"', first).group(1)
    second = c.get(f"/review/?after={link}").content.decode()
    assert [int(x) for x in re.findall(r'<tr data-face="(\d+)"', second)] == queue[4:]
    assert 'class="next-page"' not in second and 'class="first-page"' in second
    assert c.get("/review/?after=nonsense").status_code == 400


@pytest.mark.django_db
def test_counts_past_the_cap_are_shown_as_more(queue, reviewer_user, monkeypatch):
    monkeypatch.setattr(selectors, "QUEUE_COUNT_CAP", 5)
    c = client_for(reviewer_user)
    data = c.get("/api/review/queue/").json()
    assert (data["count"], data["count_capped"], data["count_cap"]) == (5, True, 5)
    assert data["reason_counts"]["annotator_vs_annotator"] == 5 and data["reason_counts"]["annotator_vs_model"] == 1
    page = c.get("/review/").content.decode()
    assert '<b id="faces-left">5+ faces left to review</b>' in page
    assert '<b data-reason-count="annotator_vs_annotator">5+</b>' in page
    assert '<b data-reason-count="annotator_vs_model">1</b>' in page
    item = c.get(f"/api/review/faces/{queue[0]}/").json()
    assert (item["faces_left"], item["faces_left_capped"]) == (5, True)
    monkeypatch.setattr(selectors, "QUEUE_COUNT_CAP", 200)
    assert c.get(f"/api/review/faces/{queue[0]}/").json()["faces_left_capped"] is False


@pytest.fixture
def lead(admin_user_role):
    """An admin who may open every change list (the admin role and Django's superuser flag)."""
    admin_user_role.is_superuser = True
    admin_user_role.save(update_fields=["is_superuser"])
    return admin_user_role


def _counts_over(queries, table):
    """The COUNT queries over `table` without a LIMIT inside (a count of the whole, filtered table)."""
    return [q["sql"] for q in queries
            if "COUNT(" in q["sql"].upper() and f'"{table}"' in q["sql"] and " LIMIT " not in q["sql"].upper()]


@pytest.mark.django_db
def test_admin_face_list_never_counts_the_whole_table(data_root, lead, monkeypatch):
    faces = [make_face(split="train") for _ in range(5)]
    flag(faces[0])
    c = client_for(lead)
    for url in ("/admin/annotator/face/", "/admin/annotator/face/?needs_review__exact=1",
                "/admin/annotator/face/?split__exact=train&required_annotations=2",
                f"/admin/annotator/face/?q={faces[1].id}", f"/admin/annotator/face/?q={faces[2].content_hash}",
                "/admin/annotator/face/?_facets=True",
                "/admin/annotator/face/?q=some+file+name"):
        with CaptureQueriesContext(connection) as ctx:
            response = c.get(url)
        assert response.status_code == 200, url
        assert not _counts_over(ctx.captured_queries, "annotator_face"), url
        # no "contains" scan, and no SELECT DISTINCT over the face table for a filter's choices
        assert not [q["sql"] for q in ctx.captured_queries if "LIKE" in q["sql"].upper() and "annotator_face" in q["sql"]], url
        assert not [q["sql"] for q in ctx.captured_queries if "DISTINCT" in q["sql"].upper() and "annotator_face" in q["sql"]], url
    listed = lambda url: [int(x) for x in re.findall(r'/admin/annotator/face/(\d+)/change/', c.get(url).content.decode())]  # noqa: E731
    assert listed(f"/admin/annotator/face/?q={faces[1].id}") == [faces[1].id]
    assert listed(f"/admin/annotator/face/?q={faces[2].content_hash}") == [faces[2].id]
    assert listed("/admin/annotator/face/?needs_review__exact=1") == [faces[0].id]
    assert listed("/admin/annotator/face/") == [f.id for f in reversed(faces)]  # newest first
    page = c.get("/admin/annotator/face/").content.decode()
    assert "5 faces" in page and "more than" not in page
    monkeypatch.setattr(admin_paging.CappedCountPaginator, "cap", 3)
    monkeypatch.setattr(admin_paging.BigTableAdmin, "list_per_page", 2)
    page = c.get("/admin/annotator/face/").content.decode()
    assert "more than 3 faces" in page
    assert len(re.findall(r'/admin/annotator/face/(\d+)/change/', page)) == 2


def _analyze(table):
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")


def _listed_ids(page):
    return [int(x) for x in re.findall(r'/admin/annotator/face/(\d+)/change/', page)]


@pytest.mark.django_db
def test_admin_face_list_of_a_big_table_shows_postgresqls_estimate_and_counts_nothing(data_root, lead, monkeypatch):
    """Over a table PostgreSQL's statistics call big, a list the planner expects to pass the cap says
    "about N" (its estimate) and counts nothing; a page that is not full gives the exact count instead."""
    if connection.vendor != "postgresql":
        pytest.skip("the planner's estimate is PostgreSQL's; SQLite always counts (the test above)")
    faces = [make_face(split="train") for _ in range(8)]
    _analyze("annotator_face")
    monkeypatch.setattr(admin_paging.CappedCountPaginator, "cap", 3)
    monkeypatch.setattr(admin_paging.BigTableAdmin, "list_per_page", 2)
    c = client_for(lead)
    # A table of 8 rows is small: counted, as on SQLite.
    page = c.get("/admin/annotator/face/").content.decode()
    assert "more than 3 faces" in page and "about" not in page
    monkeypatch.setattr(admin_paging.CappedCountPaginator, "estimate_above", 5)
    with CaptureQueriesContext(connection) as ctx:
        page = c.get("/admin/annotator/face/?split__exact=train").content.decode()
    assert not [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert "about 8 faces (PostgreSQL's estimate" in page
    assert "about 8 results" in page  # the search box's figure
    assert _listed_ids(page) == [faces[7].id, faces[6].id]
    assert "?p=2&amp;split__exact=train" in page and "p=3" not in page  # pages reach the cap (3 rows), no further
    page = c.get("/admin/annotator/face/?split__exact=train&all=&p=2").content.decode()  # "Show all" (about 8)
    assert len(_listed_ids(page)) == 8 and "8 faces" in page and "about" not in page
    # Rows gone since the last ANALYZE: the estimate still says 8, the second page is short and counts them.
    Face.objects.filter(pk__in=[f.id for f in faces[:5]]).delete()
    page = c.get("/admin/annotator/face/?split__exact=train&p=2").content.decode()
    assert _listed_ids(page) == [faces[5].id]
    assert "3 faces" in page and "about" not in page and "more than" not in page
    page = c.get("/admin/annotator/face/?split__exact=val").content.decode()  # estimated at 1 (below the cap)
    assert "0 faces" in page and "about" not in page


@pytest.mark.django_db
def test_postgresql_knows_which_admin_filters_of_the_faces_go_together(data_root):
    """The faces' filter columns have multi-column statistics (migration 0024): a split and "needs review"
    that no face has together are estimated at about nothing, not at the product of their shares."""
    if connection.vendor != "postgresql":
        pytest.skip("CREATE STATISTICS is PostgreSQL's")
    project = Project.objects.default()
    Face.objects.bulk_create(
        Face(project=project, image="faces/x.jpg", content_hash=f"{i:064x}", source=f"s/{i}.jpg",
             split="val" if i % 2 else "train", needs_review=not i % 2) for i in range(400))
    _analyze("annotator_face")
    queryset = Face.objects.filter(split="val", needs_review=True)
    estimate = json.loads(queryset.explain(format="json"))[0]["Plan"]["Plan Rows"]
    assert estimate < 10  # independent shares would say 100


@pytest.mark.django_db
def test_admin_lists_of_answers_suggestions_and_flags_never_count_their_table(data_root, lead, annotator_user):
    from tests.review_factories import answer, suggest, suggester

    face = make_face()
    answer(face, annotator_user, 1, 0.2, 0.3)
    suggest(face, suggester(), 1, 0.2, 0.3)
    flag(face)
    c = client_for(lead)
    for url, table in (("/admin/annotator/annotation/", "annotator_annotation"),
                       (f"/admin/annotator/annotation/?q={face.id}", "annotator_annotation"),
                       (f"/admin/annotator/annotation/?q={annotator_user.username[:3]}", "annotator_annotation"),
                       ("/admin/annotator/suggestion/?category__exact=1", "annotator_suggestion"),
                       ("/admin/reviews/flag/?status__exact=open", "reviews_flag"),
                       (f"/admin/reviews/flag/?q={face.id}", "reviews_flag"),
                       ("/admin/reviews/decision/", "reviews_decision"),
                       ("/admin/annotator/claim/", "annotator_claim")):
        with CaptureQueriesContext(connection) as ctx:
            response = c.get(url)
        assert response.status_code == 200, url
        assert not _counts_over(ctx.captured_queries, table), url
        if "claim" not in url and "decision" not in url:
            assert f'<td class="field-face_id">{face.id}</td>' in response.content.decode(), url
    assert f'<td class="field-face_id">{face.id}</td>' in c.get(
        f"/admin/annotator/annotation/?q={annotator_user.username[:3]}").content.decode()
    assert "0 annotations" in c.get("/admin/annotator/annotation/?q=nobody").content.decode()


@pytest.mark.django_db
def test_queue_reads_walk_the_open_flag_index(queue):
    """The queue's page and its counts read the open flags' indexes, not every flag (PostgreSQL's plan)."""
    if connection.vendor != "postgresql":
        pytest.skip("query plans are checked on PostgreSQL (DATABASE_URL); SQLite plans differ")
    faces = list(Flag.objects.values_list("face_id", flat=True).distinct())
    Flag.objects.bulk_create(Flag(face_id=faces[i % len(faces)], reason=Flag.Reason.ANNOTATOR_VS_MODEL, key=f"more-{i}",
                                  severity=(i % 97) / 97) for i in range(700))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE reviews_flag")
        # Small tables favour a scan and a sort; ask what the index path is.
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_sort = off")
    leading = selectors._leading_flags(selectors.QueueFilters(), None)
    cursor_row = leading.values_list("severity", "created_at", "id")[2]
    after = selectors.QueueCursor(*cursor_row)
    pages = {
        "first page": leading.values_list("face_id")[:50],
        "deep page": leading.filter(severity__lte=after.severity).values_list("face_id")[:50],
    }
    for name, rows in pages.items():
        sql, params = rows.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "flag_open_queue_order" in plan and "Sort" not in plan.split("flag_open_queue_order")[0], (name, plan)
    reason = selectors._open_flags(selectors.QueueFilters(reason="annotator_vs_model"), None).order_by()
    sql, params = reason.values_list("face_id").distinct()[:1001].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "flag_open_reason_face" in plan, plan


def _flag_reads_joining_faces(queries):
    return [q["sql"] for q in queries if 'FROM "reviews_flag"' in q["sql"] and 'JOIN "annotator_face"' in q["sql"]]


@pytest.mark.django_db
def test_queue_reads_flags_without_the_faces_unless_a_face_lies_outside_the_reviewers_projects(queue, reviewer_user):
    """With every face in the reviewer's projects the flags are read alone (a join to the faces made PostgreSQL
    read 450,000 faces to count one reason at 1M); a face of another project brings the filter back."""
    from annotator.projects.services import project_create

    c = client_for(reviewer_user)
    with CaptureQueriesContext(connection) as ctx:
        page = c.get("/review/").content.decode()
    assert not _flag_reads_joining_faces(ctx.captured_queries)
    assert all(f"/review/face/{face_id}/" in page for face_id in queue)
    elsewhere = make_face(project=project_create(slug="elsewhere", name="Elsewhere"))
    flag(elsewhere, severity=1.0)
    with CaptureQueriesContext(connection) as ctx:
        page = c.get("/review/").content.decode()
        data = c.get("/api/review/queue/").json()
    assert _flag_reads_joining_faces(ctx.captured_queries)
    assert f"/review/face/{elsewhere.id}/" not in page and elsewhere.id not in [r["face_id"] for r in data["results"]]
    assert [r["face_id"] for r in data["results"]] == queue
