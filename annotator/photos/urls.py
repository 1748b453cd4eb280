from django.urls import path

from annotator.photos import views as photo_views

urlpatterns = [
    path("photos/upload/", photo_views.photo_upload, name="photo-upload"),
]
