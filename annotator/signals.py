"""Signals the core sends after a commit, so that other apps (reviews) can react without being imported."""
from django.dispatch import Signal

# Sent with face_id and annotation_id after an answer is saved or changed (on commit).
answer_saved = Signal()
# Sent with face_id, suggestion_id and answered (whether the face had answers when it was stored)
# after a suggestion is stored (on commit).
suggestion_saved = Signal()
