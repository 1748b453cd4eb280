"""REST endpoints of the annotation queue: claim faces, skip, submit and change own answers.

Thin views: validate input, call one service in annotator.queue.services, serialize; a service's
refusal (a DomainError) becomes JSON in annotator.web.errors. Only annotators and admins may call
them; an annotator only ever sees their own answers.
"""
from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.models import Annotation, CalibrationAnswer
from annotator.projects.selectors import project_for_user
from annotator.qualification.selectors import answer_feedback
from annotator.queue import services as queue_services
from annotator.web.api_fields import FloatField, IntegerField, UUIDField, id_field, seconds_spent_field
from annotator.web.roles import IsAnnotator


class SuggestionOut(serializers.Serializer):
    id = serializers.IntegerField()
    category = serializers.IntegerField()
    confidence = serializers.FloatField()
    valence = serializers.FloatField(allow_null=True)
    arousal = serializers.FloatField(allow_null=True)
    model = serializers.CharField(help_text="Suggester name and version")


class QueuedFaceOut(serializers.Serializer):
    id = serializers.IntegerField()
    image_url = serializers.CharField()
    landmarks = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    suggestion = SuggestionOut(allow_null=True, help_text="The model's suggestion; null when none or shown blind")
    expires_at = serializers.DateTimeField(help_text="End of this annotator's lease on the face")
    note = inline_serializer("ReturnNote", {
        "text": serializers.CharField(), "by": serializers.CharField(), "at": serializers.DateTimeField(),
        "your_answer": serializers.DictField(allow_null=True),
    }, allow_null=True, help_text="A reviewer returned this face to you with this note; your answer replaces your earlier one")


def _face_out(item: queue_services.ClaimedFace) -> dict:
    s = item.suggestion
    return {
        "id": item.face_id,
        "image_url": reverse("face-image", args=[item.face_id]),
        "landmarks": item.landmarks,
        "suggestion": None
        if s is None
        else {
            "id": s.pk,
            "category": s.category,
            "confidence": s.confidence,
            "valence": s.valence,
            "arousal": s.arousal,
            "model": str(s.suggester),
        },
        "expires_at": item.claim.expires_at,
        "note": item.note,
    }


class QueueNextApi(APIView):
    """Claim the next faces for the signed-in annotator (leases)."""

    permission_classes = [IsAuthenticated, IsAnnotator]

    class QueueNextIn(serializers.Serializer):
        count = IntegerField(min_value=1, max_value=10, default=1)
        holding = serializers.ListField(
            child=id_field(), required=False, default=list, max_length=50,
            help_text="Ids of faces the client already holds (they are not returned again)",
        )
        project = serializers.SlugField(
            required=False, default="", allow_blank=True,
            help_text="Slug of one of your projects; may be left out when you work in one only",
        )

    @extend_schema(
        request=QueueNextIn,
        responses={200: inline_serializer("QueueNextOut", {"faces": QueuedFaceOut(many=True)})},
    )
    def post(self, request):
        data = self.QueueNextIn(data=request.data)
        data.is_valid(raise_exception=True)
        options = dict(data.validated_data)
        project = project_for_user(request.user, options.pop("project"))
        items = queue_services.queue_claim(annotator=request.user, project=project, **options)
        return Response({"faces": QueuedFaceOut([_face_out(i) for i in items], many=True).data})


class QueueReleaseApi(APIView):
    """Give a claimed face back now (skip). A face not held (a skip sent twice) is a no-op; an id that
    names no face is a 404."""

    permission_classes = [IsAuthenticated, IsAnnotator]

    class QueueReleaseIn(serializers.Serializer):
        face = id_field()

    @extend_schema(request=QueueReleaseIn, responses={204: None})
    def post(self, request):
        data = self.QueueReleaseIn(data=request.data)
        data.is_valid(raise_exception=True)
        queue_services.queue_release(annotator=request.user, face_id=data.validated_data["face"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class AnnotationOut(serializers.ModelSerializer):
    class Meta:
        model = Annotation
        fields = [
            "id", "face", "category", "valence", "arousal", "seconds_spent", "suggestion", "shown_blind",
            "kept_suggestion", "outside_region_confirmed", "guideline_version", "client_key", "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class LabelIn(serializers.Serializer):
    category = IntegerField()
    valence = FloatField(required=False, allow_null=True, default=None)
    arousal = FloatField(required=False, allow_null=True, default=None)
    outside_region_confirmed = serializers.BooleanField(required=False, default=False)
    seconds_spent = seconds_spent_field(required=False, default=0.0)


def _submitted_out(answer) -> dict:
    """Return a submit's body: the stored answer and its feedback (null unless a calibration answer, or
    a gold answer with GOLD_FEEDBACK on). A calibration answer has no id: it is no Annotation, and
    cannot be changed (the annotator has seen the reference)."""
    if isinstance(answer, CalibrationAnswer):
        body = {"id": None, "face": answer.face_id, "category": answer.category, "valence": answer.valence,
                "arousal": answer.arousal, "seconds_spent": answer.seconds_spent, "suggestion": None,
                "shown_blind": True, "kept_suggestion": None, "outside_region_confirmed": False,
                "client_key": str(answer.client_key), "created_at": answer.created_at, "updated_at": answer.created_at}
    else:
        body = AnnotationOut(answer).data
    return {**body, "feedback": answer_feedback(answer)}


class AnnotationSubmitApi(APIView):
    """Submit an answer; a retry with the same client_key stores nothing new (200 instead of 201). The
    body carries `feedback` (the reference and the V/A distance) after a calibration answer."""

    permission_classes = [IsAuthenticated, IsAnnotator]

    class AnnotationSubmitIn(LabelIn):
        face = id_field()
        client_key = UUIDField()
        suggestion = id_field(required=False, allow_null=True, default=None)

    @extend_schema(request=AnnotationSubmitIn, responses={200: AnnotationOut, 201: AnnotationOut})
    def post(self, request):
        data = self.AnnotationSubmitIn(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        answer, created = queue_services.annotation_submit(
            face=d["face"], annotator=request.user, category=d["category"], valence=d["valence"],
            arousal=d["arousal"], client_key=d["client_key"], seconds_spent=d["seconds_spent"],
            suggestion_id=d["suggestion"], outside_region_confirmed=d["outside_region_confirmed"],
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(_submitted_out(answer), status=code)


class AnnotationChangeApi(APIView):
    """Change one of your latest answers (undo), until a reviewer has decided the face."""

    permission_classes = [IsAuthenticated, IsAnnotator]

    @extend_schema(request=LabelIn, responses={200: AnnotationOut})
    def patch(self, request, annotation_id: int):
        data = LabelIn(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        annotation = queue_services.annotation_change(
            annotation_id=annotation_id, annotator=request.user, category=d["category"],
            valence=d["valence"], arousal=d["arousal"], outside_region_confirmed=d["outside_region_confirmed"],
            seconds_spent=d["seconds_spent"],
        )
        return Response(AnnotationOut(annotation).data)


class MyAnnotationsApi(APIView):
    """Your own latest answers (newest first); never anyone else's."""

    permission_classes = [IsAuthenticated, IsAnnotator]

    @extend_schema(responses={200: AnnotationOut(many=True)})
    def get(self, request):
        rows = Annotation.objects.filter(annotator=request.user).order_by("-created_at", "-id")[: settings.UNDO_LIMIT]
        return Response(AnnotationOut(rows, many=True).data)
