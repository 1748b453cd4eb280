"""The console's pages (admins only; checked here, on the server; Django's CSRF middleware on every POST)."""
from pathlib import PurePosixPath

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from annotator.common.paths import PathNotAllowed, data_roots, folder_listing
from annotator.console.forms import ExportForm, ImportForm
from annotator.console.selectors import console_actions_recent
from annotator.console.services import console_action_record
from annotator.jobs.selectors import job_get, job_status, jobs_recent, jobs_status
from annotator.jobs.services import job_cancel, job_create
from annotator.models import Job
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


# --- jobs: imports, exports, uploads run by a worker (annotator.jobs) -------------------------------------

def _job_or_404(job_id):
    try:
        return job_get(job_id)
    except Job.DoesNotExist:
        raise Http404("No such job.") from None


@admin_required
def jobs_list(request):
    """Every recent job with its live progress (static/js/console-jobs.js polls jobs_status)."""
    return render(request, "console/jobs.html", {"jobs": jobs_recent()})


@admin_required
@require_GET
def jobs_status_api(request):
    """Progress of the jobs named by ?ids=1,2,3 (the list page's polling)."""
    ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.strip().isdigit()]
    return JsonResponse({"jobs": jobs_status(ids)})


@admin_required
def job_detail(request, job_id):
    """One job: progress bar, summary, log, cancel, download (static/js/console-job.js polls job_status_api)."""
    job = _job_or_404(job_id)
    return render(request, "console/job.html", {"job": job, "status": job_status(job)})


@admin_required
@require_GET
def job_status_api(request, job_id):
    return JsonResponse(job_status(_job_or_404(job_id)))


@admin_required
@require_POST
def job_cancel_view(request, job_id):
    job = _job_or_404(job_id)
    with transaction.atomic():
        if job_cancel(job):
            console_action_record(request.user, "job.cancel", f"cancelled job {job.id} ({job.get_kind_display()})",
                                  project=job.project, details={"job": job.id})
    return redirect("console:job", job_id=job.id)


@admin_required
@require_GET
def job_download(request, job_id):
    """The finished export's zip, streamed from storage (admins only; storage API only: S3 too)."""
    job = _job_or_404(job_id)
    if job.state != Job.State.SUCCEEDED or not job.result_name or not default_storage.exists(job.result_name):
        raise Http404("This job has no zip to download.")
    return FileResponse(default_storage.open(job.result_name, "rb"), as_attachment=True,
                        filename=f"job-{job.id}-{PurePosixPath(job.result_name).name}", content_type="application/zip")


@admin_required
@require_GET
def folders_api(request):
    """What the folder browser shows: the data roots, and a folder's sub-folders and files (CSV files
    named). The client names a root by its number and a path relative to it; an escape gets a 400."""
    roots = [{"index": i, "path": str(root)} for i, root in enumerate(data_roots())]
    try:
        listing = folder_listing(request.GET.get("root", "0"), request.GET.get("path", ""))
    except PathNotAllowed as exc:
        return JsonResponse({"error": str(exc), "roots": roots}, status=400)
    return JsonResponse({**listing, "roots": roots})


def _job_start(request, form, kind, action, summary):
    project = form.cleaned_data["project"]
    with transaction.atomic():
        job = job_create(kind=kind, options=form.cleaned_data["options"], user=request.user, project=project)
        console_action_record(request.user, action, f"{summary}: job {job.id}", project=project,
                              details={"job": job.id, "kind": kind, "options": job.options})
    return redirect("console:job", job_id=job.id)


@admin_required
def job_import(request):
    """Start an import (AffectNet folder, CSV + images, or photos) from a folder under DATA_ROOTS."""
    form = ImportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        kind = form.cleaned_data["kind"]
        return _job_start(request, form, kind, "import.start",
                          f"started a {Job.Kind(kind).label} into {form.cleaned_data['project'].slug}")
    return render(request, "console/import.html", {"form": form}, status=400 if form.errors else 200)


@admin_required
def job_export(request):
    """Start an export in AffectNet's layout (export_affectnet's options) into a folder under DATA_ROOTS."""
    form = ExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        return _job_start(request, form, Job.Kind.EXPORT_AFFECTNET, "export.start",
                          f"started an export of {form.cleaned_data['project'].slug}")
    return render(request, "console/export.html", {"form": form}, status=400 if form.errors else 200)
