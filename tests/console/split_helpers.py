"""Faces as rows only (no image is read by split assignment): categories, sources (photos) and splits."""
import random

from annotator.models import Face, FinalSource, Project

_next_id = [500000]


def bulk_faces(project: Project, n: int, *, split="unassigned", seed=0, photo_prefix="photo", max_per_photo=3,
               unlabelled_every=0):
    """n faces of `project`, cut from photos of 1..max_per_photo faces (their source), with final categories
    skewed like AffectNet's (a few common, many rare); every `unlabelled_every`-th face has none. Returns ids."""
    rng = random.Random(seed)
    weights = [30, 25, 8, 5, 3, 2, 7, 5, 5, 5, 5]
    rows, photo, left = [], 0, 0
    for _ in range(n):
        if left == 0:
            photo, left = photo + 1, rng.randint(1, max_per_photo)
        left -= 1
        _next_id[0] += 1
        i = _next_id[0]
        category = rng.choices(range(11), weights)[0]
        unlabelled = unlabelled_every and i % unlabelled_every == 0
        va = (None, None) if category >= 9 else (0.1, 0.1)
        rows.append(Face(id=i, project=project, image=f"faces/{i:064x}.jpg", content_hash=f"{i:064x}",
                         source=f"/data/{photo_prefix}-{seed}-{photo}.jpg", split=split,
                         final_category=None if unlabelled else category,
                         final_valence=None if unlabelled else va[0], final_arousal=None if unlabelled else va[1],
                         final_source=FinalSource.NONE if unlabelled else FinalSource.AGREEMENT))
    Face.objects.bulk_create(rows, batch_size=2000)
    return [r.id for r in rows]


def splits_by_id(project: Project) -> dict:
    return dict(Face.objects.filter(project=project).values_list("id", "split"))
