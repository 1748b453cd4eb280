"""The Celery app: configured from Django settings (CELERY_* names).

Every task's base is annotator.common.tasks.RetryingTask (task_cls), so a task of any package gets
the one retry policy and the on-commit sending without importing it. Each task names its queue
(queue_name=, which the router task_route reads) and its pinned name where it is defined.
"""
import os
import pkgutil

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.config.settings")

app = Celery("annotator", task_cls="annotator.common.tasks:RetryingTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
# A default (CELERY_TASK_ROUTES would still win): the queue each task names where it is defined routes it.
app.add_defaults({"task_routes": ("annotator.common.tasks.task_route",)})


def task_packages() -> list:
    """Where autodiscovery looks for a tasks module: every sub-package of annotator, and reviews. Derived,
    so a package that gains a tasks.py is served by the worker without a list to keep in step."""
    import annotator

    return [f"annotator.{module.name}" for module in pkgutil.iter_modules(annotator.__path__) if module.ispkg] + [
        "reviews"
    ]


app.autodiscover_tasks(task_packages)
