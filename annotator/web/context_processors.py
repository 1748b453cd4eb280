"""What every page's layout needs to know: which parts of the site the signed-in user may open."""
from annotator.web import roles


def navigation(request):
    """Return `nav`: the links of the top bar the user's roles open (the views check again on the server)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav": {}}
    return {"nav": {
        "annotate": roles.can_annotate(user),
        "review": roles.can_review(user),
        "feedback": bool(roles.user_roles(user)),
        "upload": roles.is_admin(user),
        "console": roles.is_admin(user),
        "admin": roles.is_admin(user) and user.is_staff,
    }}
