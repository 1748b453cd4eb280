"""A project's labelling policy: the fields, and the settings a new project takes them from."""
from annotator.models import POLICY_SETTINGS, project_policy_defaults

__all__ = ["POLICY_SETTINGS", "POLICY_FIELDS", "REQUIREMENT_FIELDS", "project_policy_defaults"]
POLICY_FIELDS = tuple(POLICY_SETTINGS)
# Changing these changes how many answers faces need: applied to the faces not yet finished.
REQUIREMENT_FIELDS = ("annotators_per_face", "overlap_share")
