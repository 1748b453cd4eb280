"""Routes of the annotation area: the /annotate/ page and the queue API."""
from django.urls import path

from annotator.queue import apis as queue_apis
from annotator.queue import views as annotate_views

urlpatterns = [
    path("annotate/", annotate_views.annotate, name="annotate"),
    path("api/queue/next/", queue_apis.QueueNextApi.as_view(), name="queue-next"),
    path("api/queue/release/", queue_apis.QueueReleaseApi.as_view(), name="queue-release"),
    path("api/annotations/", queue_apis.AnnotationSubmitApi.as_view(), name="annotation-submit"),
    path("api/annotations/mine/", queue_apis.MyAnnotationsApi.as_view(), name="annotation-mine"),
    path("api/annotations/<id:annotation_id>/", queue_apis.AnnotationChangeApi.as_view(), name="annotation-change"),
]
