from django.urls import path

from annotator.photos import views

urlpatterns = [
    path("photos/upload/", views.photo_upload, name="photo-upload"),
]
