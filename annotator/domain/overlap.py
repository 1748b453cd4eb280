"""How many answers a face needs under a labelling policy (Django-free)."""


def required_annotations(content_hash: str, *, annotators_per_face: int, overlap_share: float) -> int:
    """Return how many answers a face needs: the base number, plus one for a share of faces.

    The draw is a function of the content hash, so it is stable across runs, machines and policy changes
    (raising the share from 0.1 to 0.2 keeps the first 10% and adds 10%)."""
    draw = int(content_hash[:8], 16) / 0xFFFFFFFF
    return annotators_per_face + (1 if draw < overlap_share else 0)
