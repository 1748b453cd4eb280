"""The Celery app: configured from Django settings (CELERY_* names)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.config.settings")

app = Celery("annotator")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Task modules by package: the core keeps its tasks in sub-packages, so name them (autodiscovery looks for <name>.tasks).
app.autodiscover_tasks(["annotator.suggestions", "annotator.queue", "reviews"])
