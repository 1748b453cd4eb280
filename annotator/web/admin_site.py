"""The Django admin, for users with the admin role only (a staff flag alone is not enough)."""
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

from annotator.web import roles


class RoleAdminSite(admin.AdminSite):
    site_header = "Face annotator administration"

    def has_permission(self, request):
        return super().has_permission(request) and roles.is_admin(request.user)


class RoleAdminConfig(AdminConfig):
    default_site = "annotator.web.admin_site.RoleAdminSite"
