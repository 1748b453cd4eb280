"""The console's forms: start an import or an export (the commands' options); paths are a data root's
number and a path relative to it, checked on the server (annotator.common.paths)."""
from django import forms

from annotator.common.paths import PathNotAllowed, data_root_path, data_roots
from annotator.domain.categories import parse_categories
from annotator.models import Job, Project, Split

IMPORT_KINDS = [(Job.Kind.AFFECTNET_IMPORT, "AffectNet folder (images/ + annotations/)"),
                (Job.Kind.CSV_IMPORT, "AffectNet CSV + images folder"),
                (Job.Kind.PHOTOS_IMPORT, "Photos (faces are found in them)")]


def root_choices():
    return [(i, str(root)) for i, root in enumerate(data_roots())]


class ProjectChoice(forms.ModelChoiceField):
    def __init__(self, **kwargs):
        super().__init__(queryset=Project.objects.order_by("id"), to_field_name="slug", empty_label=None, **kwargs)


class PathForm(forms.Form):
    project = ProjectChoice()
    root = forms.TypedChoiceField(coerce=int, label="Data root", choices=root_choices)
    path_fields = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if Project.objects.count() == 1:
            self.fields["project"].initial = Project.objects.get().slug
        self.fields["root"].widget.attrs["data-browse-root"] = ""
        for name in self.path_fields:  # static/js/console-folders.js fills these from the folder browser
            self.fields[name].widget.attrs.update({"data-browse": "", "autocomplete": "off"})

    def chosen(self, field: str, *, kind: str = "folder", required: bool = True) -> dict | None:
        """The {"root", "path"} option of a path field, checked: inside the root, and existing (a folder,
        or a file for kind "file"); the error names the field."""
        relative = (self.cleaned_data.get(field) or "").strip()
        if not relative and not required:
            return None
        root = self.cleaned_data.get("root")
        if root is None:
            return None
        try:
            path = data_root_path(root, relative)
        except PathNotAllowed as exc:
            self.add_error(field, str(exc))
            return None
        if kind == "folder" and not path.is_dir():
            self.add_error(field, f"{relative or '.'}: no such folder under the data root")
            return None
        if kind == "file" and not path.is_file():
            self.add_error(field, f"{relative}: no such file under the data root")
            return None
        return {"root": root, "path": relative}


class ImportForm(PathForm):
    path_fields = ("folder", "csv", "images")
    kind = forms.ChoiceField(choices=IMPORT_KINDS)
    folder = forms.CharField(required=False, help_text="AffectNet folder, or the photos' folder")
    csv = forms.CharField(required=False, label="CSV file", help_text="training.csv or validation.csv")
    images = forms.CharField(required=False, label="Images folder", help_text="what the CSV's paths are relative to")
    labels = forms.ChoiceField(choices=[("annotations", "store the labels as answers"), ("none", "ignore the labels")],
                               initial="annotations", required=False, help_text="AffectNet imports")
    split = forms.ChoiceField(choices=[("", "from the names (AffectNet); unassigned (photos)"), *Split.choices],
                              required=False)
    no_face_as_candidates = forms.BooleanField(required=False,
                                               label="Photos: keep a photo with no face, suggested No-Face")

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        options = {}
        if kind == Job.Kind.CSV_IMPORT:
            options["csv"] = self.chosen("csv", kind="file")
            options["images"] = self.chosen("images")
            options["labels"] = data.get("labels") or "annotations"
        else:
            options["folder"] = self.chosen("folder")
            if kind == Job.Kind.AFFECTNET_IMPORT:
                options["labels"] = data.get("labels") or "annotations"
            else:
                options["no_face_as_candidates"] = bool(data.get("no_face_as_candidates"))
        if data.get("split"):
            options["split"] = data["split"]
        data["options"] = options
        return data


class ExportForm(PathForm):
    path_fields = ("out",)
    out = forms.CharField(label="Destination folder", help_text="under the data root; missing or empty (or force)")
    categories = forms.CharField(required=False, help_text="e.g. 0-7 (default: the project's export categories)")
    splits = forms.MultipleChoiceField(choices=[("train", "train"), ("val", "val")], required=False,
                                       widget=forms.CheckboxSelectMultiple, help_text="default: both")
    csv = forms.BooleanField(required=False, label="also write training.csv / validation.csv")
    answers = forms.BooleanField(required=False, label="also write answers.parquet and faces.parquet")
    names = forms.BooleanField(required=False, label="with the answers: the annotators' usernames")
    force = forms.BooleanField(required=False, label="replace an earlier export in the destination")

    def clean_categories(self):
        value = (self.cleaned_data.get("categories") or "").strip()
        if value:
            try:
                parse_categories(value)
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from None
        return value

    def clean(self):
        data = super().clean()
        if data.get("names") and not data.get("answers"):
            self.add_error("names", "only with the answers (the usernames go into answers.parquet)")
        relative = (data.get("out") or "").strip()
        out = None
        if data.get("root") is not None:
            try:
                path = data_root_path(data["root"], relative)
                if not relative or path == data_roots()[data["root"]]:
                    self.add_error("out", "name a folder under the data root, not the root itself")
                else:
                    out = {"root": data["root"], "path": relative}
            except PathNotAllowed as exc:
                self.add_error("out", str(exc))
        data["options"] = {"out": out, "categories": data.get("categories") or None,
                           "splits": data.get("splits") or None, "csv": data.get("csv"), "answers": data.get("answers"),
                           "names": data.get("names"), "force": data.get("force")}
        return data
