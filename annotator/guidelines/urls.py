"""Routes of the guidelines API."""
from django.urls import path

from annotator.guidelines import apis

urlpatterns = [
    path("api/guidelines/", apis.GuidelinesApi.as_view(), name="guidelines"),
    path("api/guidelines/read/", apis.GuidelinesReadApi.as_view(), name="guidelines-read"),
]
