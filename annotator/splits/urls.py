"""The console's splits page, at /console/splits/ (mounted by the config's URLs, beside the console's own)."""
from django.urls import path

from annotator.splits import views

urlpatterns = [
    path("", views.splits_page, name="console-splits"),
]
