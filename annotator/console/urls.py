from django.urls import path

from annotator.console import views

app_name = "console"

urlpatterns = [
    path("", views.console_home, name="home"),
]
