"""The console's splits page (admins only): the form, its preview (nothing changes), and applying it as a
console job (at a million faces applying outlasts any web request)."""
from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render

from annotator.console.views import admin_required
from annotator.domain.errors import DomainError
from annotator.models import Project
from annotator.splits.selectors import FACE_SETS, FACES_UNASSIGNED, SPLITS, split_plan
from annotator.splits.services import PlanChanged, splits_apply_start


class SplitsForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.order_by("id"), to_field_name="slug", empty_label=None)
    train = forms.FloatField(label="Train %", min_value=0, max_value=100, initial=90)
    val = forms.FloatField(label="Validation %", min_value=0, max_value=100, initial=10)
    faces = forms.ChoiceField(label="Faces", choices=FACE_SETS.items(), initial=FACES_UNASSIGNED)
    seed = forms.IntegerField(label="Seed", min_value=0, max_value=2**32 - 1, initial=0,
                              help_text="The same seed and the same faces give the same assignment.")
    digest = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        if "train" in data and "val" in data and abs(data["train"] + data["val"] - 100) > 1e-6:
            self.add_error("val", f"train and validation add up to {data['train'] + data['val']:g}%, not 100%")
        return data

    def shares(self) -> dict:
        return {name: self.cleaned_data[name] / 100 for name in SPLITS}


@admin_required
def splits_page(request):
    """GET: the form. POST action=preview: the counts per split and per category (nothing changes).
    POST action=apply: a job that writes the previewed plan (its page next), if the faces did not change since
    (else the new preview); the job checks it again when it runs, and fails if they changed meanwhile."""
    if request.method != "POST":
        project = Project.objects.filter(slug=request.GET.get("project", "")).first()
        form = SplitsForm(initial={"project": project.slug} if project else None)
        return render(request, "console/splits.html", {"form": form})
    form = SplitsForm(request.POST)
    if not form.is_valid():
        return render(request, "console/splits.html", {"form": form}, status=400)
    data = form.cleaned_data
    try:
        plan = split_plan(data["project"], form.shares(), faces=data["faces"], seed=data["seed"])
        if request.POST.get("action") == "apply" and data["digest"]:
            if data["digest"] != plan.digest:
                raise PlanChanged("the faces changed since the preview; look at the new preview and apply it")
            job = splits_apply_start(plan, user=request.user)
            return redirect("console:job", job_id=job.id)
    except PlanChanged as error:
        messages.warning(request, error.message)
        plan = split_plan(data["project"], form.shares(), faces=data["faces"], seed=data["seed"])
    except DomainError as error:
        form.add_error(None, f"{error.field}: {error.message}" if error.field else error.message)
        return render(request, "console/splits.html", {"form": form}, status=400)
    form = SplitsForm(initial={**data, "project": data["project"].slug, "digest": plan.digest})
    return render(request, "console/splits.html", {"form": form, "plan": plan, "rows": plan.rows(), "splits": SPLITS,
                                                   "share_error": f"{100 * plan.largest_share_error:.2f}"})
