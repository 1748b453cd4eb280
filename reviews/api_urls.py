"""The review API, mounted at /api/review/."""
from django.urls import path

from reviews import api

urlpatterns = [
    path("queue/", api.QueueApi.as_view(), name="review-api-queue"),
    path("faces/<id:face_id>/", api.ItemApi.as_view(), name="review-api-item"),
    path("faces/<id:face_id>/decision/", api.DecisionApi.as_view(), name="review-api-decision"),
    path("faces/<id:face_id>/return/", api.ReturnApi.as_view(), name="review-api-return"),
    path("faces/<id:face_id>/one-more/", api.OneMoreApi.as_view(), name="review-api-one-more"),
    path("faces/<id:face_id>/history/", api.HistoryApi.as_view(), name="review-api-history"),
    path("gold/", api.GoldApi.as_view(), name="review-api-gold"),
    path("gold/<id:face_id>/", api.GoldDeleteApi.as_view(), name="review-api-gold-delete"),
    path("agreement/", api.AgreementApi.as_view(), name="review-api-agreement"),
    path("evaluation/", api.EvaluationApi.as_view(), name="review-api-evaluation"),
    path("dashboard/", api.DashboardApi.as_view(), name="review-api-dashboard"),
    path("projects/", api.ProjectsOverviewApi.as_view(), name="review-api-projects"),
]
