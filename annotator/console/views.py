"""The console's pages (admins only; checked here, on the server)."""
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from annotator.console.selectors import console_actions_recent
from annotator.web import roles


def admin_required(view):
    """Signed in (else the login page) and the admin role (else 403): every console page and action."""
    @login_required
    def checked(request, *args, **kwargs):
        if not roles.is_admin(request.user):
            raise PermissionDenied("Only admins may use the console.")
        return view(request, *args, **kwargs)
    checked.__name__ = view.__name__
    checked.__doc__ = view.__doc__
    return checked


@admin_required
def console_home(request):
    """The console's start page: what can be done here, and the history of what was done."""
    return render(request, "console/home.html", {"actions": console_actions_recent()})
