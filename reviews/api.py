"""The review API: the queue, one face's item, decisions, history, gold items and the measures.

Thin views: validate the input, call one selector or service, serialize the output; a service's
refusal (a DomainError) becomes JSON in annotator.web.errors.
Reviewers and admins only (annotator.web.roles.IsReviewer); history and gold marking are admins' only.
"""
from typing import ClassVar

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.feedback import services as feedback_services
from annotator.models import MAX_ID, Annotation, Face, ReviewerRequest, Split, Suggestion
from annotator.projects.selectors import faces_of, project_for_user, project_ids_of, projects_of
from annotator.training.selectors import suggester_evaluate
from annotator.web.api_fields import FloatField, IntegerField, id_field
from annotator.web.roles import IsAdminRole, IsReviewer, is_admin
from reviews import selectors, services
from reviews.aggregates import FiguresPending
from reviews.dashboard import dashboard_cached, evaluation_kept, projects_overview_cached, refresh_asked
from reviews.evaluation import agreement, suggester_by_spec
from reviews.models import Decision, Flag
from reviews.selectors import scoped

FILTER_PARAMETERS = [
    OpenApiParameter("reason", str, enum=Flag.Reason.values, description="Only flags of this reason"),
    OpenApiParameter("category", int, description="Only faces an annotator or the model put in this category"),
    OpenApiParameter("annotator", int, description="Only faces this annotator (user id) answered"),
    OpenApiParameter("model", int, description="Only faces this suggester (id) made a suggestion for"),
    OpenApiParameter("project", str, description="Only faces of this project of yours (slug; default: all yours)"),
]


class QueueFilterSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=Flag.Reason.choices, required=False, allow_blank=True)
    category = IntegerField(min_value=0, max_value=10, required=False)
    annotator = id_field(required=False)
    model = id_field(required=False)

    def to_filters(self) -> selectors.QueueFilters:
        d = self.validated_data
        return selectors.QueueFilters(d.get("reason") or None, d.get("category"), d.get("annotator"), d.get("model"))


def queue_filters(request) -> selectors.QueueFilters:
    """Return the queue's filters of the request's query; ?project=slug names one of the reviewer's
    projects (another project is a 404, as one that does not exist)."""
    query = {k: v for k, v in request.query_params.items() if v != ""}
    s = QueueFilterSerializer(data=query)
    s.is_valid(raise_exception=True)
    f = s.to_filters()
    slug = query.get("project")
    project = project_for_user(request.user, slug) if slug else None
    return selectors.QueueFilters(f.reason, f.category, f.annotator_id, f.suggester_id, project)


def face_of_reviewer(request, face_id: int) -> Face:
    """Return the face if it is in one of the user's projects; 404 otherwise (another project's face
    reads as no face)."""
    return get_object_or_404(faces_of(request.user, Face.objects.only("id", "project_id")), pk=face_id)


def next_face_id(request, filters, exclude) -> int | None:
    return selectors.review_next_face_id(scope=project_ids_of(request.user), filters=filters, exclude=exclude)


class ExcludeIn(serializers.Serializer):
    exclude = serializers.ListField(child=id_field(), max_length=100)


def exclude_ids(text: str) -> list:
    """Return the face ids of a comma-separated `exclude` parameter; 400 naming it for anything else."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    s = ExcludeIn(data={"exclude": parts})
    s.is_valid(raise_exception=True)
    return s.validated_data["exclude"]


PROJECT_PARAMETER = OpenApiParameter("project", str, description="A project of yours (slug); needed when you have several")

LabelOut = inline_serializer("ReviewLabel", {
    "category": serializers.IntegerField(), "category_name": serializers.CharField(),
    "valence": serializers.FloatField(allow_null=True), "arousal": serializers.FloatField(allow_null=True),
})


class QueueApi(APIView):
    permission_classes = [IsAuthenticated, IsReviewer]

    class PageIn(serializers.Serializer):
        limit = IntegerField(min_value=1, max_value=500, default=50)
        offset = IntegerField(min_value=0, max_value=MAX_ID, default=0)
        after = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)

        def validate_after(self, value):
            try:
                return selectors.QueueCursor.parse(value) if value else None
            except ValueError:
                raise serializers.ValidationError("not a position in the queue (use a page's `next`)") from None

    class QueueOutputSerializer(serializers.Serializer):
        count = serializers.IntegerField(help_text="Faces in the queue, counted up to count_cap")
        count_capped = serializers.BooleanField(help_text="The queue holds more faces than count (count_cap)")
        count_cap = serializers.IntegerField()
        reason_counts = serializers.DictField(child=serializers.IntegerField(),
                                              help_text="Faces per reason, each counted up to count_cap")
        next = serializers.CharField(allow_null=True, help_text="Pass as `after` for the next page; null on the last")
        results = serializers.ListField(child=inline_serializer("ReviewQueueRow", {
            "face_id": serializers.IntegerField(), "severity": serializers.FloatField(),
            "flag_count": serializers.IntegerField(), "since": serializers.DateTimeField(),
            "flags": serializers.ListField(child=serializers.DictField()),
            "answers": serializers.ListField(child=serializers.DictField()),
            "suggestion": serializers.DictField(allow_null=True),
            "project": serializers.DictField(),
        }))

    @extend_schema(parameters=[*FILTER_PARAMETERS, OpenApiParameter("limit", int),
                               OpenApiParameter("after", str, description="A page's `next`: the page after it (as quick "
                                                                         "at any depth)"),
                               OpenApiParameter("offset", int, description="Rows to skip (slower the deeper; prefer after)")],
                   responses=QueueOutputSerializer, summary="Open flags grouped per face, most severe first")
    def get(self, request):
        filters = queue_filters(request)
        page = self.PageIn(data=request.query_params)
        page.is_valid(raise_exception=True)
        limit, offset, after = (page.validated_data[k] for k in ("limit", "offset", "after"))
        scope = project_ids_of(request.user)
        queue = selectors.review_queue(scope=scope, filters=filters, after=after, offset=offset, limit=limit)
        rows = queue["rows"]
        details = selectors.review_queue_details([r["face_id"] for r in rows])
        results = [{**r, **details[r["face_id"]]} for r in rows]
        left = selectors.review_faces_left(scope=scope, filters=filters)
        reasons = selectors.review_reason_counts(scope=scope, filters=filters)
        data = {"count": left.value, "count_capped": left.capped, "count_cap": selectors.QUEUE_COUNT_CAP,
                "reason_counts": {k: v.value for k, v in reasons.items()},
                "next": queue["next"].text() if queue["next"] else None, "results": results}
        return Response(self.QueueOutputSerializer(data).data)


class ItemApi(APIView):
    permission_classes = [IsAuthenticated, IsReviewer]

    @extend_schema(parameters=[*FILTER_PARAMETERS, OpenApiParameter("exclude", str, description="Face ids (comma-separated) not to offer as next")],
                   responses=inline_serializer("ReviewItem", {
        "id": serializers.IntegerField(), "image_url": serializers.CharField(), "split": serializers.CharField(),
        "project": serializers.DictField(),
        "landmarks": serializers.ListField(child=serializers.FloatField(), allow_null=True),
        "answers": serializers.ListField(child=serializers.DictField()),
        "suggestion": serializers.DictField(allow_null=True), "flags": serializers.ListField(child=serializers.DictField()),
        "decision": serializers.DictField(allow_null=True), "final": serializers.DictField(allow_null=True),
        "gold": serializers.DictField(allow_null=True), "history": serializers.ListField(child=serializers.DictField()),
        "next_face_id": serializers.IntegerField(allow_null=True),
        "faces_left": serializers.IntegerField(help_text="Faces with an open flag under the filters, this one included, "
                                                         "counted up to the queue's count_cap"),
        "faces_left_capped": serializers.BooleanField(help_text="More faces are left than faces_left"),
    }), summary="Everything the item page shows for one face, and the next face in the queue")
    def get(self, request, face_id: int):
        face_of_reviewer(request, face_id)
        filters = queue_filters(request)
        # `exclude`: faces the page is deciding right now, so the prefetched item's next is another one
        exclude = [face_id, *exclude_ids(request.query_params.get("exclude", ""))]
        item = selectors.face_review_item(face_id=face_id, with_audit=is_admin(request.user))
        item["next_face_id"] = next_face_id(request, filters, exclude)
        left = selectors.review_faces_left(scope=project_ids_of(request.user), filters=filters)
        item["faces_left"], item["faces_left_capped"] = left.value, left.capped
        return Response(item)


class DecisionApi(APIView):
    permission_classes = [IsAuthenticated, IsReviewer]
    # decision_make names the rows it accepts; this input names them by their ids (annotator.web.errors).
    error_field_names: ClassVar[dict] = {"annotation": "annotation_id", "suggestion": "suggestion_id"}

    class DecisionInputSerializer(serializers.Serializer):
        category = IntegerField()
        valence = FloatField(required=False, allow_null=True)
        arousal = FloatField(required=False, allow_null=True)
        source = serializers.ChoiceField(choices=Decision.Source.choices, default=Decision.Source.MANUAL)
        annotation_id = id_field(required=False, allow_null=True)
        suggestion_id = id_field(required=False, allow_null=True)

    class DecisionOutputSerializer(serializers.Serializer):
        face_id = serializers.IntegerField()
        category = serializers.IntegerField()
        valence = serializers.FloatField(allow_null=True)
        arousal = serializers.FloatField(allow_null=True)
        source = serializers.CharField()
        reviewer = serializers.CharField(source="reviewer.username")
        decided_at = serializers.DateTimeField()
        next_face_id = serializers.IntegerField(allow_null=True)

    @extend_schema(parameters=FILTER_PARAMETERS, request=DecisionInputSerializer, responses={201: DecisionOutputSerializer},
                   summary="Set the face's final label; its open flags are resolved")
    def post(self, request, face_id: int):
        face = face_of_reviewer(request, face_id)
        filters = queue_filters(request)  # read before anything is stored: a bad filter stores nothing
        s = self.DecisionInputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        d = s.validated_data
        annotation = suggestion = None
        scope = project_ids_of(request.user)
        if d.get("annotation_id") is not None:
            # Only rows of the reviewer's projects: another project's answer reads as none, not as "of face N".
            annotation = scoped(Annotation.objects.filter(pk=d["annotation_id"]), scope).first()
            if annotation is None:
                raise ValidationError({"annotation_id": [f"no answer {d['annotation_id']}"]})
        if d.get("suggestion_id") is not None:
            suggestion = scoped(Suggestion.objects.filter(pk=d["suggestion_id"]), scope).first()
            if suggestion is None:
                raise ValidationError({"suggestion_id": [f"no suggestion {d['suggestion_id']}"]})
        decision = services.decision_make(
            face=face, reviewer=request.user, category=d["category"], valence=d.get("valence"),
            arousal=d.get("arousal"), source=d["source"], annotation=annotation, suggestion=suggestion,
        )
        decision.next_face_id = next_face_id(request, filters, [face_id])
        return Response(self.DecisionOutputSerializer(decision).data, status=status.HTTP_201_CREATED)


class RequestOut(serializers.Serializer):
    face_id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ReviewerRequest.Kind.choices)
    annotator = serializers.CharField(source="annotator.username", allow_null=True, default=None)
    note = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    requested_by = serializers.CharField(source="requested_by.username")
    created_at = serializers.DateTimeField()
    required_annotations = serializers.IntegerField(source="face.required_annotations")
    next_face_id = serializers.IntegerField(allow_null=True)


def _request_response(request, face_id: int, made: ReviewerRequest, filters) -> Response:
    made.face.refresh_from_db(fields=["required_annotations"])
    made.next_face_id = next_face_id(request, filters, [face_id])
    return Response(RequestOut(made).data, status=status.HTTP_201_CREATED)


class ReturnApi(APIView):
    """Return the face to the annotator of one answer, with a note: the queue serves it to them first,
    with the note above it, and their new answer replaces that one."""

    permission_classes = [IsAuthenticated, IsReviewer]
    error_field_names: ClassVar[dict] = {"annotation": "annotation_id"}

    class ReturnIn(serializers.Serializer):
        annotation_id = id_field(help_text="The answer returned: its annotator gets the face back")
        note = serializers.CharField(max_length=feedback_services.NOTE_MAX_CHARS)

    @extend_schema(parameters=FILTER_PARAMETERS, request=ReturnIn, responses={201: RequestOut},
                   summary="Return the face to an annotator with a note")
    def post(self, request, face_id: int):
        face_of_reviewer(request, face_id)
        filters = queue_filters(request)
        s = self.ReturnIn(data=request.data)
        s.is_valid(raise_exception=True)
        made = feedback_services.face_return(face_id=face_id, annotation_id=s.validated_data["annotation_id"],
                                             note=s.validated_data["note"], by=request.user)
        return _request_response(request, face_id, made, filters)


class OneMoreApi(APIView):
    """Ask one more annotator: the face needs one more answer and returns to the queue for someone
    who has not answered it."""

    permission_classes = [IsAuthenticated, IsReviewer]

    @extend_schema(parameters=FILTER_PARAMETERS, request=None, responses={201: RequestOut},
                   summary="Ask one more annotator to answer the face")
    def post(self, request, face_id: int):
        face_of_reviewer(request, face_id)
        filters = queue_filters(request)
        made = feedback_services.face_ask_one_more(face_id=face_id, by=request.user)
        return _request_response(request, face_id, made, filters)


class HistoryApi(APIView):
    permission_classes = [IsAuthenticated, IsAdminRole]

    @extend_schema(responses=inline_serializer("FaceHistoryEvent", {
        "at": serializers.DateTimeField(), "what": serializers.CharField(), "detail": serializers.CharField(),
        "by": serializers.CharField(),
    }, many=True), summary="Audit history of a face: every change to its answers and decision (admins)")
    def get(self, request, face_id: int):
        face_of_reviewer(request, face_id)
        return Response(selectors.face_history(face_id=face_id, with_audit=True))


class GoldApi(APIView):
    permission_classes = [IsAuthenticated, IsAdminRole]

    class GoldInputSerializer(serializers.Serializer):
        face_id = id_field()
        category = IntegerField()
        valence = FloatField(required=False, allow_null=True)
        arousal = FloatField(required=False, allow_null=True)

    @extend_schema(request=GoldInputSerializer, responses={201: GoldInputSerializer},
                   summary="Mark a face as a gold item with its known label (admins)")
    def post(self, request):
        s = self.GoldInputSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        d = s.validated_data
        face = faces_of(request.user, Face.objects.filter(pk=d["face_id"])).first()
        if face is None:
            raise ValidationError({"face_id": [f"no face {d['face_id']}"]})
        gold = services.gold_mark(face=face, category=d["category"], valence=d.get("valence"),
                                  arousal=d.get("arousal"), by=request.user)
        return Response({"face_id": face.id, "category": gold.category, "valence": gold.valence,
                         "arousal": gold.arousal}, status=status.HTTP_201_CREATED)


class GoldDeleteApi(APIView):
    permission_classes = [IsAuthenticated, IsAdminRole]

    @extend_schema(request=None, responses={204: None, 404: None},
                   summary="Make a gold face an ordinary face again (admins); 404 if it is no gold item")
    def delete(self, request, face_id: int):
        if not services.gold_unmark(face=face_of_reviewer(request, face_id)):
            raise NotFound(f"Face {face_id} is not a gold item.")
        return Response(status=status.HTTP_204_NO_CONTENT)


PENDING_DETAIL = ("The figures are being brought up to date (blocks of faces changed since they were kept); the "
                  "worker is on it and each request computes some: ask again in a few seconds.")


def figures_pending_response(pending) -> Response:
    """202: a recompute stopped at DASHBOARD_RECOMPUTE_SECONDS with blocks left (aggregates.FiguresPending)."""
    return Response({"detail": PENDING_DETAIL, "pending": pending.stats}, status=202)


def kept_figures_response(data) -> Response:
    """The kept figures; with a recompute under way and none kept yet, 202 and what is left."""
    if data.get("computed_at") is None:
        return Response({"detail": PENDING_DETAIL, **data}, status=202)
    return Response(data)


class AgreementApi(APIView):
    permission_classes = [IsAuthenticated, IsReviewer]

    @extend_schema(parameters=[OpenApiParameter("split", str, enum=Split.values), PROJECT_PARAMETER],
                   responses=OpenApiTypes.OBJECT, summary="Agreement between annotators on a project's shared faces")
    def get(self, request):
        split = request.query_params.get("split") or None
        if split and split not in Split.values:
            raise ValidationError({"split": f"not a split: {split!r}"})
        project = project_for_user(request.user, request.query_params.get("project"))
        try:
            result = agreement(splits=[split] if split else None, scope={project.pk},
                               seconds=settings.DASHBOARD_RECOMPUTE_SECONDS)
        except FiguresPending as pending:
            return figures_pending_response(pending)
        result["cohen_pairs"] = [{**p, "annotators": list(p["annotators"])} for p in result["cohen_pairs"]]
        return Response(result)


class EvaluationApi(APIView):
    permission_classes = [IsAuthenticated, IsReviewer]

    class EvaluationIn(serializers.Serializer):
        split = serializers.ChoiceField(choices=[*Split.values, "all"], default=Split.VAL)
        # A CharField refuses NUL characters, which PostgreSQL cannot compare (a 500 before).
        model = serializers.CharField(required=False, default="", max_length=201)

    @extend_schema(parameters=[OpenApiParameter("split", str, enum=[*Split.values, "all"]),
                               OpenApiParameter("model", str, description="NAME:VERSION (default: the project's active one)"),
                               PROJECT_PARAMETER],
                   responses=OpenApiTypes.OBJECT,
                   summary="The seed's table for a model (any recorded one) against the final labels independent of "
                           "its suggestions, with n, 95% bootstrap intervals and the faces still without its prediction")
    def get(self, request):
        s = self.EvaluationIn(data={k: v for k, v in request.query_params.items() if v != ""})
        s.is_valid(raise_exception=True)
        split, spec = s.validated_data["split"], s.validated_data["model"]
        project = project_for_user(request.user, request.query_params.get("project"))
        suggester = suggester_by_spec(spec, project)
        if split == Split.VAL and suggester.pk == project.active_suggester_id:
            # the active model on val, as the dashboard shows it: from the per-block partials
            try:
                return Response(evaluation_kept(project=project, seconds=settings.DASHBOARD_RECOMPUTE_SECONDS))
            except FiguresPending as pending:
                return figures_pending_response(pending)
        return Response(suggester_evaluate(suggester, None if split == "all" else split, projects=[project]))


class DashboardApi(APIView):
    permission_classes = [IsAuthenticated, IsReviewer]

    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="Everything the dashboard draws",
        description="Figures are kept for DASHBOARD_CACHE_SECONDS (see computed_at); ?refresh=1 recomputes them now.",
        parameters=[OpenApiParameter("refresh", OpenApiTypes.BOOL, description="recompute now instead of the kept figures"),
                    PROJECT_PARAMETER],
    )
    def get(self, request):
        project = project_for_user(request.user, request.query_params.get("project"))
        return kept_figures_response(dashboard_cached(project=project, refresh=refresh_asked(request.query_params),
                                                      seconds=settings.DASHBOARD_RECOMPUTE_SECONDS))


class ProjectsOverviewApi(APIView):
    permission_classes = [IsAuthenticated, IsReviewer]

    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="The reviewer's projects side by side: progress, agreement and throughput",
        description="Kept for DASHBOARD_CACHE_SECONDS (see computed_at); ?refresh=1 recomputes them now.",
        parameters=[OpenApiParameter("refresh", OpenApiTypes.BOOL, description="recompute now instead of the kept figures")],
    )
    def get(self, request):
        return kept_figures_response(projects_overview_cached(
            projects_of(request.user), refresh=refresh_asked(request.query_params),
            seconds=settings.DASHBOARD_RECOMPUTE_SECONDS))
