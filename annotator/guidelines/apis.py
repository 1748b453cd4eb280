"""REST endpoints of the guidelines: read the current set; record that the overlay was read."""
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.guidelines import selectors as guideline_selectors
from annotator.guidelines import services as guideline_services
from annotator.projects.selectors import project_for_user
from annotator.web.api_fields import IntegerField
from annotator.web.roles import HasAnyRole, IsAnnotator


class GuidelineOut(serializers.Serializer):
    category = serializers.IntegerField()
    name = serializers.CharField()
    definition = serializers.CharField()
    not_this = serializers.CharField()
    examples = serializers.ListField(child=serializers.CharField(), help_text="Image URLs of example faces")


PROJECT_PARAM = OpenApiParameter(
    "project", str, description="Slug of one of your projects; may be left out when you work in one only")


class GuidelinesApi(APIView):
    """A project's guidelines in force now, one per category, with the set's version."""

    permission_classes = [IsAuthenticated, HasAnyRole]

    @extend_schema(parameters=[PROJECT_PARAM], responses={200: inline_serializer(
        "GuidelinesOut", {"version": serializers.IntegerField(allow_null=True), "guidelines": GuidelineOut(many=True)}
    )})
    def get(self, request):
        project = project_for_user(request.user, request.query_params.get("project"))
        current = guideline_selectors.guidelines_at(project=project)
        return Response({"version": current.version, "guidelines": guideline_selectors.guidelines_for_page(current)})


class GuidelinesReadApi(APIView):
    """Record that the signed-in annotator read (dismissed) the guidelines of a version."""

    permission_classes = [IsAuthenticated, IsAnnotator]

    class GuidelinesReadIn(serializers.Serializer):
        version = IntegerField(min_value=1, max_value=2**31 - 1)
        project = serializers.SlugField(required=False, help_text="Slug of the project; may be left out with one")

    @extend_schema(request=GuidelinesReadIn, responses={204: None})
    def post(self, request):
        data = self.GuidelinesReadIn(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_for_user(request.user, data.validated_data.get("project"))
        guideline_services.guidelines_mark_read(user=request.user, project=project,
                                                version=data.validated_data["version"])
        return Response(status=status.HTTP_204_NO_CONTENT)
