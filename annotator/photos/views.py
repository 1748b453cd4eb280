"""The upload page for raw photos (admins only): files or zip archives to faces."""
from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from annotator.models import Project, Split
from annotator.photos.services import photos_upload_start
from annotator.photos.upload_limits import LimitedUploadHandler, request_too_large, short_size
from annotator.projects.selectors import project_named
from annotator.web import roles


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*,.zip"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if not isinstance(data, (list, tuple)):
            data = [data]
        if not data and self.required:  # no file at all: the per-file check below never runs
            raise forms.ValidationError(self.error_messages["required"], code="required")
        files = [single(item, initial) for item in data]
        return [f for f in files if f]  # files the upload limits dropped are named in the summary


class PhotoUploadForm(forms.Form):
    files = MultipleFileField(label="Photos or zip archives")
    project = forms.ModelChoiceField(queryset=Project.objects.order_by("id"), to_field_name="slug",
                                     empty_label=None, help_text="The project the faces go into")
    split = forms.ChoiceField(choices=Split.choices, initial=Split.UNASSIGNED)
    no_face_as_candidates = forms.BooleanField(
        required=False, label="Keep photos with no face, suggested No-Face, for annotators to confirm")

    def __init__(self, *args, files_refused=False, **kwargs):
        super().__init__(*args, **kwargs)
        if files_refused:  # every file was over the limit: the summary names them, not "required"
            self.fields["files"].required = False
        # Several projects: the admin chooses (checked against the projects there are); one: no choice,
        # the faces go into it (whatever a request sends is ignored).
        if Project.objects.count() < 2:
            del self.fields["project"]
        else:
            self.fields["project"].empty_label = "choose a project"

    def chosen_project(self) -> Project:
        return self.cleaned_data.get("project") or project_named()


@csrf_exempt  # CSRF is checked by _photo_upload, once the upload handlers are in place
@login_required
def photo_upload(request):
    """Refuse an oversized upload before its body is read; limit what is read; then the form."""
    if not roles.is_admin(request.user):
        raise PermissionDenied("Only admins may import photos.")
    limiter = None
    if request.method == "POST":
        # Nothing before this point may touch request.POST/FILES: the body is parsed once, with these handlers.
        refused = request_too_large(request, settings.PHOTO_UPLOAD_MAX_REQUEST_BYTES)
        if refused:
            return _too_large(request, refused)
        limiter = LimitedUploadHandler(request, max_file_bytes=settings.PHOTO_UPLOAD_MAX_BYTES,
                                       max_request_bytes=settings.PHOTO_UPLOAD_MAX_REQUEST_BYTES)
        request.upload_handlers.insert(0, limiter)
        request.POST  # noqa: B018  parse the body now, through the limiter (CSRF is checked on what was parsed, below)
        if limiter.too_large:  # whether or not the CSRF token came before the point where reading stopped
            return _too_large(request, limiter.too_large)
    return _photo_upload(request, limiter)


@csrf_protect
def _photo_upload(request, limiter):
    """Show the upload form; on POST, store the files and start a job that imports them (its page shows
    what happened to each), so the request returns at once whatever the upload's size."""
    if request.method == "POST":
        form = PhotoUploadForm(request.POST, request.FILES, files_refused=bool(limiter.refused))
    else:
        form = PhotoUploadForm()
    if request.method == "POST" and form.is_valid():
        job = photos_upload_start(
            user=request.user, files=form.cleaned_data["files"], split=form.cleaned_data["split"],
            no_face_as_candidates=form.cleaned_data["no_face_as_candidates"], refused=limiter.refused,
            project=form.chosen_project())
        return redirect("console:job", job_id=job.id)
    return _page(request, form)


def _too_large(request, message):
    return _page(request, PhotoUploadForm(), error=message, status=413)


def _page(request, form, *, error=None, status=200):
    limits = {"max_file": short_size(settings.PHOTO_UPLOAD_MAX_BYTES),
              "max_request": short_size(settings.PHOTO_UPLOAD_MAX_REQUEST_BYTES)}
    return render(request, "photos/upload.html", {"form": form, "error": error, **limits},
                  status=status)
