"""50 annotators asking at once on PostgreSQL, in two projects: no face is handed to more annotators than
it needs, and none to an annotator outside its project."""
import threading
import uuid
from collections import defaultdict

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection, connections

from annotator.models import Annotation, Face
from annotator.projects.services import project_create, project_members_add
from annotator.queue import services as queue_services
from tests.project_helpers import set_policy
from tests.queue.test_queue import make_face

CLIENTS = 50


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_annotators_never_overfill_a_face(settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL for row locking: set DATABASE_URL=postgres://... (CI runs it on PostgreSQL)")
    main = set_policy(blind_share=0.0, gold_share=0.0)
    pilot = project_create(slug="pilot", blind_share=0.0, gold_share=0.0, calibration_faces=0)
    faces = [make_face(i, required=2 if i % 4 == 0 else 1, priority=i % 5) for i in range(120)]
    Face.objects.filter(pk__in=[f.pk for f in faces[::2]]).update(project=pilot)  # half in each project
    project_of = dict(Face.objects.values_list("pk", "project_id"))
    group, _ = Group.objects.get_or_create(name="annotator")  # a transactional test before may have flushed it
    users, member_of = [], {}
    for i in range(CLIENTS):
        user = User.objects.create_user(f"load{i}")
        user.groups.add(group)
        # 20 in main only, 15 in the pilot only, 15 in both (asking in each by turns).
        member_of[user.pk] = [main] if i < 20 else [pilot] if i < 35 else [main, pilot]
        for project in member_of[user.pk]:
            project_members_add(project=project, users=[user])
        users.append(user)

    handed = defaultdict(set)  # face id -> annotators it was ever handed to
    crossed = []  # (annotator, face) handed out of the project asked for
    lock = threading.Lock()
    errors = []
    start = threading.Barrier(CLIENTS)

    def annotate(user):
        try:
            start.wait()
            projects, empty, turn = member_of[user.pk], set(), 0
            while len(empty) < len(projects):
                project = projects[turn % len(projects)]
                turn += 1
                if project.pk in empty:
                    continue
                items = queue_services.queue_claim(annotator=user, project=project, count=2)
                if not items:
                    empty.add(project.pk)
                    continue
                with lock:
                    crossed.extend((user.username, i.face_id) for i in items if project_of[i.face_id] != project.pk)
                    for item in items:
                        handed[item.face_id].add(user.pk)
                for item in items:
                    queue_services.annotation_submit(
                        face=item.face_id, annotator=user, category=10, valence=None, arousal=None,
                        client_key=uuid.uuid4(),
                    )
        except Exception as error:  # reported below with the thread's user
            errors.append((user.username, repr(error)))
        finally:
            connections.close_all()  # each thread had its own connection

    threads = [threading.Thread(target=annotate, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors[:5]
    assert crossed == []
    allowed = {u.pk: {p.pk for p in member_of[u.pk]} for u in users}
    assert all(project_of[face] in allowed[who] for face, whom in handed.items() for who in whom)
    required = {f.pk: f.required_annotations for f in faces}
    over = {pk: len(who) for pk, who in handed.items() if len(who) > required[pk]}
    assert over == {}, f"faces handed to more annotators than they need: {over}"
    # Every face got exactly what it needs, and the counter agrees with the rows.
    for face in Face.objects.all():
        answers = Annotation.objects.filter(face=face).count()
        assert answers == face.answer_count == face.required_annotations, face.pk
    assert len(handed) == len(faces)
