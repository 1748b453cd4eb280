"""Listen to the core's signals (sent on commit) and queue the model's work for the faces concerned."""
from annotator import signals
from annotator.suggestions.tasks import suggestions_enqueue


def faces_suggestions_enqueue(sender=None, *, face_ids, **kwargs):
    """Queue suggestions of the active model for newly stored faces (SUGGEST_TASK_SIZE faces a task)."""
    suggestions_enqueue(face_ids=face_ids)


def connect():
    signals.faces_stored.connect(faces_suggestions_enqueue, dispatch_uid="suggestions.faces_stored")
