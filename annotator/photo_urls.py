from django.urls import path

from . import photo_views

urlpatterns = [
    path("photos/upload/", photo_views.photo_upload, name="photo-upload"),
]
