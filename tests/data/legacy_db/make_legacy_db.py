"""Make tests/data/legacy_db/main-453e1d7.sqlite3: a database as main at 453e1d7 (before projects) left it.

Run once, at that commit, from the repository root:
    DEBUG=1 DATABASE_URL=sqlite:///$PWD/tests/data/legacy_db/main-453e1d7.sqlite3 CALIBRATION_FACES=0 \
        python tests/data/legacy_db/make_legacy_db.py
It holds the demo faces, users of each role, suggestions of the built-in model and a second
(trained-looking, inactive) suggester, answers, flags, a reviewer's decision, gold faces and a
reviewer's request. tests/projects/test_legacy_migration.py migrates a copy of it forward.
"""
import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.config.settings")
import django  # noqa: E402

django.setup()
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402

call_command("migrate", interactive=False, verbosity=0)
call_command("import_affectnet", str(Path("annotator/demo")), labels="none", verbosity=0)

from annotator.domain.labels import Label  # noqa: E402,F401
from annotator.feedback.services import face_return  # noqa: E402
from annotator.models import Annotation, Face, Suggester  # noqa: E402
from annotator.queue.services import annotation_submit, queue_claim  # noqa: E402
from annotator.suggestions.services import suggester_active_get_or_create, suggestions_compute  # noqa: E402
from reviews.flagging import faces_flags_evaluate  # noqa: E402
from reviews.models import Flag  # noqa: E402
from reviews.services import decision_make, gold_mark  # noqa: E402


def user(name, role):
    u, _ = User.objects.get_or_create(username=name)
    u.set_password("legacy-pass-1")
    u.save()
    u.groups.set(Group.objects.filter(name=role))
    return u


admin = user("lead", "admin")
reviewer = user("rita", "reviewer")
annotators = [user(f"ann{i}", "annotator") for i in (1, 2, 3)]
faces = list(Face.objects.order_by("id"))
builtin = suggester_active_get_or_create()
suggestions_compute(face_ids=[f.id for f in faces], suggester=builtin)
Suggester.objects.create(name="trained", version="2026-11-01", kind=Suggester.Kind.CHECKPOINT,
                         path="var/models/trained.safetensors", config={"labels": list(range(8))})
# Two gold faces with known labels.
gold_mark(face=faces[0], category=1, valence=0.7, arousal=0.3, by=admin)
gold_mark(face=faces[1], category=2, valence=-0.6, arousal=-0.3, by=admin)
# Answers: every annotator answers what the queue hands out; two disagree on shared faces.
picks = [(1, 0.6, 0.2), (6, -0.5, 0.5), (0, 0.0, 0.0), (3, 0.3, 0.8)]
for n, annotator in enumerate(annotators):
    for i, claimed in enumerate(queue_claim(annotator=annotator, count=6)):
        category, valence, arousal = picks[(i + n) % len(picks)]
        annotation_submit(face=claimed.face_id, annotator=annotator, category=category, valence=valence,
                          arousal=arousal, client_key=uuid.uuid4(), seconds_spent=4.0 + i,
                          outside_region_confirmed=True)
faces_flags_evaluate(Face.objects.values_list("id", flat=True))
flagged = list(Flag.objects.filter(status="open").values_list("face_id", flat=True).distinct())
if flagged:
    decision_make(face=Face.objects.get(pk=flagged[0]), reviewer=reviewer, category=1, valence=0.5, arousal=0.2)
answer = Annotation.objects.exclude(face_id__in=flagged[:1]).order_by("id").first()
face_return(face_id=answer.face_id, annotation_id=answer.id, note="Look at the mouth again.", by=reviewer)
print({"faces": Face.objects.count(), "answers": Annotation.objects.count(),
       "flags": Flag.objects.count(), "suggesters": Suggester.objects.count()})
