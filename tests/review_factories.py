"""Faces, answers, suggestions and flags for the review tests (flags made directly, as the
worker's flagging is tested on its own)."""
import io

from PIL import Image

from annotator.faces.services import face_refresh_final_label, face_set_needs_review
from annotator.faces.store import NewFace, faces_store
from annotator.models import Annotation, Face, Suggester, Suggestion
from reviews.models import Flag

_colour = [0]


def jpeg():
    _colour[0] += 1
    c = _colour[0]
    out = io.BytesIO()
    Image.new("RGB", (224, 224), ((c * 37) % 256, (c * 91) % 256, (c * 53) % 256)).save(out, format="JPEG")
    return out.getvalue()


def make_face(split="val", required=2, landmarks=None, project=None):
    """A face of `project` (default: the default project)."""
    face = faces_store([NewFace(jpeg(), split=split, required_annotations=required,
                                landmarks=landmarks or [float(60 + (i % 30) * 3) for i in range(136)])],
                       project=project)[0]
    return face


def answer(face, user, category, valence=None, arousal=None, **fields):
    a = Annotation.objects.create(face=face, annotator=user, category=category, valence=valence, arousal=arousal,
                                  **fields)
    Face.objects.filter(pk=face.pk).update(answer_count=face.annotations.count())
    face_refresh_final_label(face_id=face.id)
    return a


def suggester(name="demo", version="1", active=True, project=None):
    """A suggester; active: the active one of `project` (default: the default project)."""
    from annotator.models import Project

    model = Suggester.objects.get_or_create(name=name, version=version)[0]
    if active:
        Project.objects.filter(pk=(project or Project.objects.default()).pk).update(active_suggester=model)
    return model


def suggest(face, model, category, valence=None, arousal=None, confidence=0.6):
    probs = [(1 - confidence) / 10] * 11
    probs[category] = confidence
    return Suggestion.objects.create(face=face, suggester=model, probabilities=probs, category=category,
                                     confidence=confidence, valence=valence, arousal=arousal)


def flag(face, reason=Flag.Reason.ANNOTATOR_VS_ANNOTATOR, severity=1.0, key="k", evidence=None):
    f = Flag.objects.create(face=face, reason=reason, severity=severity, key=key, evidence=evidence or {"why": "test"})
    face_set_needs_review(face_id=face.id, needs_review=True)
    return f
