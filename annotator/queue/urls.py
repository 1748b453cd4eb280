"""Routes of the annotation area: the /annotate/ page and the queue API."""
from django.urls import path

from annotator.queue import apis, views

urlpatterns = [
    path("annotate/", views.annotate, name="annotate"),
    path("api/queue/next/", apis.QueueNextApi.as_view(), name="queue-next"),
    path("api/queue/release/", apis.QueueReleaseApi.as_view(), name="queue-release"),
    path("api/annotations/", apis.AnnotationSubmitApi.as_view(), name="annotation-submit"),
    path("api/annotations/mine/", apis.MyAnnotationsApi.as_view(), name="annotation-mine"),
    path("api/annotations/<id:annotation_id>/", apis.AnnotationChangeApi.as_view(), name="annotation-change"),
]
