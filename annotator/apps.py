from django.apps import AppConfig


class AnnotatorConfig(AppConfig):
    name = "annotator"
    verbose_name = "Faces and annotations"

    def ready(self):
        from . import checks  # noqa: F401  (registers them)
        from .learning import on_suggestion_saved
        from .signals import suggestion_saved

        # With QUEUE_ACTIVE_LEARNING on, each suggestion of the active model reorders its face.
        suggestion_saved.connect(on_suggestion_saved, dispatch_uid="learning_reorder_face")
