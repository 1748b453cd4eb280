"""The Celery app: configured from Django settings (CELERY_* names).

Every task's base is annotator.common.tasks.RetryingTask (task_cls), so a task of any package gets
the one retry policy and the on-commit sending without importing it. Each task names its queue
(queue_name=, which the router task_route reads) and its pinned name where it is defined.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.config.settings")

app = Celery("annotator", task_cls="annotator.common.tasks:RetryingTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
# A default (CELERY_TASK_ROUTES would still win): the queue each task names where it is defined routes it.
app.add_defaults({"task_routes": ("annotator.common.tasks.task_route",)})
# Task modules by package: the core keeps its tasks in sub-packages, so name them (autodiscovery looks for <name>.tasks).
app.autodiscover_tasks(["annotator.suggestions", "annotator.queue", "reviews"])
