from django.urls import path

from annotator.console import views

app_name = "console"

urlpatterns = [
    path("", views.console_home, name="home"),
    path("jobs/", views.jobs_list, name="jobs"),
    path("jobs/status/", views.jobs_status_api, name="jobs-status"),
    path("jobs/import/", views.job_import, name="job-import"),
    path("jobs/export/", views.job_export, name="job-export"),
    path("jobs/<id:job_id>/", views.job_detail, name="job"),
    path("jobs/<id:job_id>/status/", views.job_status_api, name="job-status"),
    path("jobs/<id:job_id>/cancel/", views.job_cancel_view, name="job-cancel"),
    path("jobs/<id:job_id>/download/", views.job_download, name="job-download"),
    path("folders/", views.folders_api, name="folders"),
]
