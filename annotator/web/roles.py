"""Roles are Django groups; what each may do is checked on the server, here."""
from rest_framework.permissions import BasePermission

ANNOTATOR = "annotator"
REVIEWER = "reviewer"
ADMIN = "admin"
ROLES = (ANNOTATOR, REVIEWER, ADMIN)


def user_roles(user) -> set:
    """Return the role names a user holds (a superuser holds them all)."""
    if not user or not user.is_authenticated:
        return set()
    if user.is_superuser:
        return set(ROLES)
    cached = getattr(user, "_role_names", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._role_names = cached
    return cached


def can_annotate(user) -> bool:
    return bool(user_roles(user) & {ANNOTATOR, ADMIN})


def can_review(user) -> bool:
    return bool(user_roles(user) & {REVIEWER, ADMIN})


def is_admin(user) -> bool:
    return ADMIN in user_roles(user)


class IsAnnotator(BasePermission):
    message = "Only annotators may do this."

    def has_permission(self, request, view):
        return can_annotate(request.user)


class IsReviewer(BasePermission):
    message = "Only reviewers and admins may do this."

    def has_permission(self, request, view):
        return can_review(request.user)


class IsAdminRole(BasePermission):
    message = "Only admins may do this."

    def has_permission(self, request, view):
        return is_admin(request.user)


class HasAnyRole(BasePermission):
    """Any role at all (annotator, reviewer or admin): e.g. the API schema and its docs page."""

    message = "Your account has no role yet; ask an admin to give you one."

    def has_permission(self, request, view):
        return bool(user_roles(request.user))
