"""Server-rendered pages of the core: the home redirect and face images."""
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.views import defaults

from annotator.models import Face
from annotator.web import roles
from annotator.web.files import stored_file_response
from annotator.web.middleware import wants_json


@login_required
def home(request):
    """Send each user to the page of their role."""
    if roles.can_annotate(request.user) and not roles.can_review(request.user):
        return redirect("/annotate/")
    if roles.can_review(request.user):
        return redirect("/review/")
    raise PermissionDenied("Your account has no role yet; ask an admin to give you one.")


# private: for this signed-in user's browser only, never a shared cache (the proxy, a CDN). immutable: the
# bytes behind a face's URL never change, so a page reload does not ask again within the day; a day, not a
# year, since a deleted face's id may come back with other bytes (an AffectNet import brings its own ids).
FACE_IMAGE_CACHE_CONTROL = "private, max-age=86400, immutable"


@login_required
def face_image(request, face_id: int):
    """Serve a face crop to a signed-in user with a role (crops are never public files), of a project
    they work in (an admin: any); another project's face is a 404, as no face."""
    if not roles.user_roles(request.user):
        raise PermissionDenied("No role.")
    faces = Face.objects.only("image", "content_hash")
    if not roles.is_admin(request.user):  # as projects.selectors.faces_of (which imports this package)
        faces = faces.filter(project__memberships__user=request.user)
    face = get_object_or_404(faces, pk=face_id)
    # A face's crop never changes (stored by content, Face.image set once), so its hash is its ETag: a
    # browser that asks again after max-age gets a 304 without the bytes. Asked only after the checks
    # above, so a 304 tells nobody more than the image would.
    etag = f'"{face.content_hash}"'
    response = get_conditional_response(request, etag=etag)
    if response is None:
        # Streamed through the app from the crops' storage (local or S3): never a public or presigned URL.
        response = stored_file_response(face.image.name, content_type="image/jpeg")
    response["ETag"] = etag
    response["Cache-Control"] = FACE_IMAGE_CACHE_CONTROL
    # The answer differs by who asks (a non-member gets a 404): no shared cache may keep it for others.
    patch_vary_headers(response, ["Cookie"])
    return response


# Errors Django answers itself (no URL matched, an exception outside DRF): JSON under /api/, where
# clients read JSON; the usual pages elsewhere.
def bad_request(request, exception):
    if wants_json(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception):
    if wants_json(request):
        return JsonResponse({"detail": str(exception) or "You may not do this."}, status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception):
    if wants_json(request):
        return JsonResponse({"detail": f"Not found: {request.path}"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if wants_json(request):
        return JsonResponse({"detail": "Server error: it was logged; try again or tell an admin."}, status=500)
    return defaults.server_error(request)
