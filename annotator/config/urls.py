from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView

from annotator.web import views
from annotator.web.api_docs import ApiDocsView
from annotator.web.converters import IdConverter

register_converter(IdConverter, "id")

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/faces/<id:face_id>/image/", views.face_image, name="face-image"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("", include("annotator.photos.urls")),
    path("", include("annotator.queue.urls")),
    path("", include("annotator.guidelines.urls")),
    path("console/splits/", include("annotator.splits.urls")),
    path("console/", include("annotator.console.urls")),
    path("review/", include("reviews.urls")),
    path("api/review/", include("reviews.api_urls")),
]

handler400 = "annotator.web.views.bad_request"
handler403 = "annotator.web.views.permission_denied"
handler404 = "annotator.web.views.page_not_found"
handler500 = "annotator.web.views.server_error"
