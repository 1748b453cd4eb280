"""The core app. The Celery app is loaded on first use (`celery -A annotator` asks for `annotator.app`;
Django loads it in AnnotatorConfig.ready()), so importing the Django-free parts (annotator.domain, the
formats, inference, detection, the trainer) does not import Celery or Django."""


def __getattr__(name):
    if name in ("app", "celery_app"):
        from annotator.config.celery import app

        return app
    raise AttributeError(f"module 'annotator' has no attribute {name!r}")
