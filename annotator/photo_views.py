"""The upload page for raw photos (admins only): files or zip archives to faces."""
from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from . import roles
from .models import Split
from .photo_upload import photos_upload


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*,.zip"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if not isinstance(data, (list, tuple)):
            return [single(data, initial)]
        if not data and self.required:  # no file at all: the per-file check below never runs
            raise forms.ValidationError(self.error_messages["required"], code="required")
        return [single(item, initial) for item in data]


class PhotoUploadForm(forms.Form):
    files = MultipleFileField(label="Photos or zip archives")
    split = forms.ChoiceField(choices=Split.choices, initial=Split.UNASSIGNED)
    no_face_as_candidates = forms.BooleanField(
        required=False, label="Keep photos with no face, suggested No-Face, for annotators to confirm")


@login_required
def photo_upload(request):
    """Show the upload form; on POST, import the photos and show what happened to each."""
    if not roles.is_admin(request.user):
        raise PermissionDenied("Only admins may import photos.")
    summary = None
    form = PhotoUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        summary = photos_upload(files=form.cleaned_data["files"], split=form.cleaned_data["split"],
                                no_face_as_candidates=form.cleaned_data["no_face_as_candidates"])
        form = PhotoUploadForm()
    return render(request, "photos/upload.html", {"form": form, "summary": summary})
