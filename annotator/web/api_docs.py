"""The API's docs page: Swagger UI from drf-spectacular-sidecar's files, under the site's CSP.

SpectacularSwaggerSplitView loads its start-up script as a separate file (the same URL with
?script), so the page needs no inline script; this template also moves the stock page's inline
<style> into a static file. Who may see it: SPECTACULAR_SETTINGS["SERVE_PERMISSIONS"] (a role).
"""
from django.contrib.auth.views import redirect_to_login
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import exceptions


class ApiDocsView(SpectacularSwaggerSplitView):
    template_name = "api_docs.html"

    def handle_exception(self, exc):
        # A person who is not signed in is sent to the login page and back, as on the other pages;
        # the script (?script) and signed-in users without a role get DRF's 401/403.
        if (
            isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed))
            and "script" not in self.request.GET
        ):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)
