"""Writes to the core's data that other parts share: final labels, review state and gold status.

The final_* fields of a face are written here only (one face at a time, or in bulk for imports), or
take their values from here (final_label_fields: a new face's row carries its import's label).
"""
from collections.abc import Mapping

from django.db import connection, transaction
from django.utils import timezone

from annotator.domain.batching import chunked
from annotator.domain.categories import validate_label
from annotator.domain.labels import Label, final_label
from annotator.models import DECIDED_SOURCES, Face, FinalSource, GoldReference

FINAL_LABELS_CHUNK = 1000  # labels per UPDATE of faces_final_labels_store


def _store_final(face: Face, label, source: str) -> None:
    if label is None:
        face.final_category = face.final_valence = face.final_arousal = None
        face.final_source = FinalSource.NONE
        face.final_at = None
    else:
        face.final_category, face.final_valence, face.final_arousal = label.category, label.valence, label.arousal
        face.final_source = source
        face.final_at = timezone.now()
    face.save(update_fields=["final_category", "final_valence", "final_arousal", "final_source", "final_at"])


@transaction.atomic
def face_refresh_final_label(*, face_id: int) -> Face:
    """Recompute a face's final label from its answers, unless it was decided already (a reviewer's
    decision, a label that came with an import, a gold reference): those stay final until a reviewer
    changes them. The source says whether one annotator's answer or several agreeing ones made it."""
    face = Face.objects.select_for_update().get(pk=face_id)
    if face.final_source in DECIDED_SOURCES:
        return face
    answers = [Label(c, v, a) for c, v, a in face.annotations.values_list("category", "valence", "arousal")]
    label = final_label(
        decision=None, answers=answers, required=face.required_annotations, has_open_flag=face.needs_review
    )
    _store_final(face, label, FinalSource.SINGLE if len(answers) == 1 else FinalSource.AGREEMENT)
    return face


@transaction.atomic
def face_set_reviewed_label(*, face_id: int, category: int, valence, arousal) -> Face:
    """Make a reviewer's decision the face's final label (it outranks the annotators' answers)."""
    category, valence, arousal = validate_label(category, valence, arousal)
    face = Face.objects.select_for_update().get(pk=face_id)
    _store_final(face, Label(category, valence, arousal), FinalSource.REVIEW)
    return face


@transaction.atomic
def face_set_needs_review(*, face_id: int, needs_review: bool) -> Face:
    """Record whether a face has open flags; an open flag withholds an agreed label, never a decided one."""
    Face.objects.filter(pk=face_id).update(needs_review=needs_review)
    return face_refresh_final_label(face_id=face_id)


# FinalSource.values builds its list on every call: an import checks a million faces' source.
_FINAL_SOURCES = frozenset(FinalSource.values) - {FinalSource.NONE}


def _source_check(source: str) -> None:
    if source not in _FINAL_SOURCES:
        raise ValueError(f"source: {source!r} is not a source of a final label")


def final_label_fields(label: Label, source: str, at) -> dict:
    """Return the Face fields that make `label` a face's final label from `source` since `at`: what
    faces_final_labels_store writes, for a row inserted with its label (faces.store, an import's new faces).

    The label is taken as it is, as faces_final_labels_store takes it: a caller checks it.
    """
    _source_check(source)
    return {"final_category": label.category, "final_valence": label.valence, "final_arousal": label.arousal,
            "final_source": source, "final_at": at}


def faces_final_labels_store(labels_by_face: Mapping[int, Label], source: str) -> int:
    """Make each label the final label of its face (an import's released labels); return faces updated.

    One UPDATE per chunk, joined to the labels as a VALUES list: an import stores a million labels,
    and a statement per face (or Django's CASE per row) costs many times more. The labels are
    taken as they are: a caller checks them (an import's readers do).
    """
    _source_check(source)
    items = list(labels_by_face.items())
    if not items:
        return 0
    table = connection.ops.quote_name(Face._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    # Typed on every row: PostgreSQL would take untyped parameters in a VALUES list for text.
    row_sql = "(CAST(%s AS bigint), CAST(%s AS smallint), CAST(%s AS double precision), CAST(%s AS double precision))"
    updated = 0
    # Four parameters a row and two more: sized as five a row, within the database's limit.
    size = min(FINAL_LABELS_CHUNK, connection.ops.bulk_batch_size(["id", "c", "v", "a", "_"], items))
    with transaction.atomic(), connection.cursor() as cursor:
        for chunk in chunked(items, size):
            params = [source, now]
            for face_id, label in chunk:
                params += [face_id, label.category, label.valence, label.arousal]
            cursor.execute(
                f"UPDATE {table} SET final_category = v.column2, final_valence = v.column3, "
                f"final_arousal = v.column4, final_source = %s, final_at = %s "
                f"FROM (VALUES {', '.join([row_sql] * len(chunk))}) AS v WHERE {table}.id = v.column1",
                params,
            )
            updated += cursor.rowcount
    return updated


@transaction.atomic
def face_gold_set(*, face_id: int, gold: bool, label: Label | None = None) -> None:
    """Record whether a face is a gold item, and its known label (the core's GoldReference).

    The queue mixes gold faces in (past their answer cap), calibration shows their reference as
    feedback, and the rolling gold accuracy scores answers against it, all from the core's own
    records: the queue reads no other app's tables. Marking gold needs the label; call this in the
    transaction that marks or unmarks the gold item. Marked, the reference becomes the face's final
    label (source gold: decided, so answers do not replace it); unmarked, a final label that was the
    reference goes back to the answers'.
    """
    if gold:
        if label is None:
            raise ValueError("label: a gold face needs its known label")
        label = Label(*validate_label(label.category, label.valence, label.arousal))
        GoldReference.objects.update_or_create(
            face_id=face_id, defaults={"category": label.category, "valence": label.valence, "arousal": label.arousal}
        )
    else:
        GoldReference.objects.filter(face_id=face_id).delete()
    Face.objects.filter(pk=face_id).update(is_gold=gold)
    face = Face.objects.select_for_update().get(pk=face_id)
    if gold:
        _store_final(face, label, FinalSource.GOLD)
    elif not gold and face.final_source == FinalSource.GOLD:
        _store_final(face, None, FinalSource.NONE)
        face_refresh_final_label(face_id=face_id)


def faces_put_under_review(face_ids) -> int:
    """Mark many faces as having an open flag at once (a spot check's sample); return the faces marked.

    The same as face_set_needs_review(needs_review=True) face by face, in a few UPDATEs: an open flag
    withholds a label the annotators made (single or agreement) until a reviewer decides, and never a
    decided one. Call it in the transaction that opens the flags.
    """
    marked = 0
    decided = [str(source) for source in DECIDED_SOURCES]
    for chunk in chunked(face_ids, FINAL_LABELS_CHUNK):
        marked += Face.objects.filter(pk__in=chunk).update(needs_review=True)
        Face.objects.filter(pk__in=chunk).exclude(final_source__in=decided).update(
            final_category=None, final_valence=None, final_arousal=None, final_source=FinalSource.NONE, final_at=None)
    return marked
