"""Small helpers for streaming work in bounded pieces."""

from typing import Iterable, Iterator


def chunked(items: Iterable, size: int) -> Iterator[list]:
    """Yield lists of up to `size` items, in order (itertools.batched arrives in Python 3.12)."""
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
