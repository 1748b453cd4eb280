"""Write answers.parquet and faces.parquet for an export (export_affectnet --answers).

Faces are read by keyset pagination on the primary key (CHUNK ids at a time), and each chunk's answers,
gold references and flags in one query each; rows go to the files a chunk at a time. Memory
holds one chunk, one row group's columns (answer_tables.TableWriter) and the annotators' pseudonyms
(one number per person), whatever the number of faces.
"""

import math
import random
import sys
from typing import Callable, Optional

from django.contrib.auth import get_user_model
from django.db.models import Q

from annotator.common.progress import progress_bar
from annotator.datasets.formats import answer_tables
from annotator.domain.categories import NUM_CATEGORIES
from annotator.models import Annotation, Face, GoldReference, Project
from annotator.signals import faces_flag_reasons

CHUNK_SIZE = 1000

_FACE_FIELDS = (
    "id", "split", "landmarks", "answer_count", "needs_review", "is_gold", "final_category", "final_valence",
    "final_arousal", "final_source", "final_at", "source", "original_width", "original_height",
    "box_x", "box_y", "box_width", "box_height",
)
_ANSWER_FIELDS = (
    "id", "face_id", "annotator_id", "category", "valence", "arousal", "seconds_spent", "shown_blind",
    "suggestion__suggester__name", "suggestion__suggester__version", "suggestion__category",
    "suggestion__confidence", "suggestion__valence", "suggestion__arousal", "kept_suggestion",
    "outside_region_confirmed", "imported", "guideline_version", "created_at", "updated_at",
)


def table_faces(splits, project=None):
    """Return the faces the tables describe: those of the project (None: the default project) in the
    splits with an answer or a final label."""
    project = project or Project.objects.default()
    return (Face.objects.filter(project=project, split__in=list(splits))
            .filter(Q(answer_count__gt=0) | Q(final_category__isnull=False)))


def _pseudonyms(faces, *, names: bool) -> tuple[dict, dict]:
    """Return ({user id: 1..K drawn at random for this export}, {user id: username} with names)."""
    # DISTINCT in the database: the answers' annotator ids, one per answer, would fill a list of millions.
    answers = Annotation.objects.filter(face__in=faces.values("id")).order_by()
    user_ids = sorted(answers.values_list("annotator_id", flat=True).distinct())
    numbers = list(range(1, len(user_ids) + 1))
    random.SystemRandom().shuffle(numbers)
    usernames = {}
    if names:
        usernames = dict(get_user_model().objects.filter(id__in=user_ids).values_list("id", "username"))
    return dict(zip(user_ids, numbers)), usernames


def _chunks(faces, chunk_size: int):
    """Yield the faces' rows in id order, at most chunk_size at a time, by keyset on the primary key.

    Each chunk's id window comes from the primary key alone (id > the last, ORDER BY id LIMIT n),
    then the window's faces are read with the filters. Filtering and ordering in one query let
    SQLite pick the split index and sort every remaining face for each chunk (quadratic time, and
    memory growing with the faces: measured by bench_answer_tables).
    """
    last = 0
    while True:
        window = list(Face.objects.filter(id__gt=last).order_by("id").values_list("id", flat=True)[:chunk_size])
        if not window:
            return
        last = window[-1]
        rows = list(faces.filter(id__gte=window[0], id__lte=last).order_by("id").values(*_FACE_FIELDS))
        if rows:
            yield rows


def _mean_std(values: list) -> tuple[Optional[float], Optional[float]]:
    if not values:
        return None, None
    mean = math.fsum(values) / len(values)
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


def _answer_row(a: dict, gold, pseudonyms, usernames) -> dict:
    shown = a["suggestion__suggester__name"] is not None
    return {
        "answer_id": a["id"],
        "face_id": a["face_id"],
        "annotator": pseudonyms[a["annotator_id"]],
        "annotator_name": usernames.get(a["annotator_id"]),
        "category": a["category"],
        "valence": a["valence"],
        "arousal": a["arousal"],
        "seconds_spent": a["seconds_spent"],
        "shown_blind": a["shown_blind"],
        "suggestion_model": a["suggestion__suggester__name"],
        "suggestion_version": a["suggestion__suggester__version"],
        "suggestion_category": a["suggestion__category"],
        "suggestion_confidence": a["suggestion__confidence"],
        "suggestion_valence": a["suggestion__valence"],
        "suggestion_arousal": a["suggestion__arousal"],
        "kept_suggestion": a["kept_suggestion"] if shown else None,
        "outside_region_confirmed": a["outside_region_confirmed"],
        "imported": a["imported"],
        "gold": gold is not None,
        "gold_category": gold[0] if gold else None,
        "gold_valence": gold[1] if gold else None,
        "gold_arousal": gold[2] if gold else None,
        "guideline_version": a["guideline_version"],
        "created_at": a["created_at"],
        "updated_at": a["updated_at"],
    }


def _face_row(face: dict, answers: list, flags: dict, left_out: Optional[str]) -> dict:
    counts = [0] * NUM_CATEGORIES
    for a in answers:
        counts[a["category"]] += 1
    total = sum(counts)
    valence_mean, valence_std = _mean_std([a["valence"] for a in answers if a["valence"] is not None])
    arousal_mean, arousal_std = _mean_std([a["arousal"] for a in answers if a["arousal"] is not None])
    has_final = face["final_category"] is not None
    return {
        "face_id": face["id"],
        "split": face["split"],
        "exported": left_out is None,
        "left_out": left_out,
        "answers": len(answers),
        "category_counts": counts,
        "category_distribution": [c / total for c in counts] if total else None,
        "valence_mean": valence_mean,
        "valence_std": valence_std,
        "arousal_mean": arousal_mean,
        "arousal_std": arousal_std,
        "final_category": face["final_category"],
        "final_valence": face["final_valence"],
        "final_arousal": face["final_arousal"],
        "final_source": face["final_source"] if has_final else None,
        "final_at": face["final_at"],
        "needs_review": face["needs_review"],
        "open_flags": flags.get("open", []),
        "resolved_flags": flags.get("resolved", []),
        "gold": face["is_gold"],
        "source": face["source"] or None,
        "original_width": face["original_width"],
        "original_height": face["original_height"],
        "box_x": face["box_x"],
        "box_y": face["box_y"],
        "box_width": face["box_width"],
        "box_height": face["box_height"],
    }


def answer_tables_write(
    folder,
    *,
    splits,
    left_out: Callable[[dict], Optional[str]],
    names: bool = False,
    chunk_size: int = CHUNK_SIZE,
    progress: bool = False,
    row_group_rows: int = answer_tables.ROW_GROUP_ROWS,
    project=None,
) -> dict:
    """Write folder/answers.parquet and folder/faces.parquet; return their row counts for the manifest.

    left_out(face row) says why a face is not in the export's images/ (None: it is); face rows
    carry _FACE_FIELDS.
    """
    faces = table_faces(splits, project)
    pseudonyms, usernames = _pseudonyms(faces, names=names)
    extra = {"annotators": len(pseudonyms), "names": names}
    counts = {"answers": 0, "faces": 0}
    with (
        answer_tables.TableWriter(folder / answer_tables.ANSWERS_FILE, answer_tables.answers_schema(**extra),
                                  row_group_rows=row_group_rows) as aw,
        answer_tables.TableWriter(folder / answer_tables.FACES_FILE, answer_tables.faces_schema(**extra),
                                  row_group_rows=row_group_rows) as fw,
        progress_bar(total=faces.count(), unit="face", disable=not progress, file=sys.stderr, desc="answers") as bar,
    ):
        for chunk in _chunks(faces, chunk_size):
            ids = [f["id"] for f in chunk]
            by_face = {face_id: [] for face_id in ids}
            answers = Annotation.objects.filter(face_id__in=ids).order_by("face_id", "id").values(*_ANSWER_FIELDS)
            for a in answers:
                by_face[a["face_id"]].append(a)
            gold = {
                g[0]: g[1:]
                for g in GoldReference.objects.filter(face_id__in=ids).values_list(
                    "face_id", "category", "valence", "arousal")
            }
            flags = faces_flag_reasons(ids)
            aw.write(
                _answer_row(a, gold.get(f["id"]) if f["is_gold"] else None, pseudonyms, usernames)
                for f in chunk for a in by_face[f["id"]]
            )
            fw.write(_face_row(f, by_face[f["id"]], flags.get(f["id"], {}), left_out(f)) for f in chunk)
            bar.update(len(chunk))
        counts["answers"], counts["faces"] = aw.rows, fw.rows
    return {"files": [answer_tables.ANSWERS_FILE, answer_tables.FACES_FILE], **counts, "annotators": len(pseudonyms)}
