"""The review pages, mounted at /review/ (the API is in api_urls, at /api/review/)."""
from django.urls import path

from reviews import views

urlpatterns = [
    path("", views.queue_page, name="review-queue"),
    path("face/<id:face_id>/", views.item_page, name="review-item"),
    path("dashboard/", views.dashboard_page, name="review-dashboard"),
    path("spot-checks/", views.spot_checks_page, name="review-spot-checks"),
    path("me/", views.feedback_page, name="review-feedback"),
    path("annotators/<id:user_id>/standing/", views.standing_change, name="review-standing-change"),
]
