from django.apps import AppConfig


class AnnotatorConfig(AppConfig):
    name = "annotator"
    verbose_name = "Faces and annotations"

    def ready(self):
        # The Celery app, configured from these settings, before any task is sent.
        import annotator.config.celery  # noqa: F401
        from annotator.config import checks  # noqa: F401  (registers them)
        from annotator.signals import suggestions_saved
        from annotator.suggestions import receivers
        from annotator.suggestions.services import on_suggestions_saved

        # With QUEUE_ACTIVE_LEARNING on, each batch of the active model's suggestions reorders its faces.
        suggestions_saved.connect(on_suggestions_saved, dispatch_uid="learning_reorder_faces")
        # Stored faces get the model's suggestions (faces_stored, sent once the intake commits).
        receivers.connect()
