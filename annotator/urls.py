from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView

from . import views
from .api_docs import ApiDocsView
from .converters import IdConverter

register_converter(IdConverter, "id")

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/faces/<id:face_id>/image/", views.face_image, name="face-image"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("", include("annotator.photo_urls")),
    path("", include("annotator.annotate_urls")),
    path("review/", include("reviews.urls")),
    path("api/review/", include("reviews.api_urls")),
]

handler400 = "annotator.views.bad_request"
handler403 = "annotator.views.permission_denied"
handler404 = "annotator.views.page_not_found"
handler500 = "annotator.views.server_error"
