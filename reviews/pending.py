"""The faces waiting for their flag check: answers' checks coalesced, drained in batches.

An answer adds its face to FlagPending (one row a face, however many answers) and queues a drain only
when none is queued (FlagDrain's one row says when one was); a drain (reviews.tasks.flags_drain) claims a
batch of pending faces, checks them, and deletes the rows it checked. So the broker holds a drain or two
however fast answers come, and the pending table shrinks at the drains' throughput.

In the database, not in Redis: the row is written by the same database as the answer, with any broker
(the zero-setup filesystem one too), and survives a broker that is down or emptied. Nothing is lost:
- a worker that dies mid-batch leaves its rows claimed; after FLAG_DRAIN_LEASE_SECONDS a drain claims
  them again;
- a drain that could not be queued (broker down) is not marked as queued, so the next answer queues it;
  one whose message was lost is queued again after FLAG_DRAIN_RESEND_SECONDS;
- the periodic stale sweep (flags_refresh_stale) checks every face answered since its last check, pending
  row or not, and queues a drain for the rows still waiting.
A face checked twice is harmless: the check is idempotent.
"""
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from reviews.models import FlagDrain, FlagPending


@dataclass(frozen=True)
class Claim:
    """The faces one drain took, under its token."""

    token: uuid.UUID
    face_ids: list[int]


def flags_pending_add(*, face_ids: Iterable[int]) -> None:
    """Add the faces to the pending checks; a face already pending (claimed or not) waits for a new check."""
    now = timezone.now()
    FlagPending.objects.bulk_create(
        [FlagPending(face_id=face_id, queued_at=now) for face_id in face_ids],
        update_conflicts=True, unique_fields=["face"], update_fields=["claim", "claimed_at"],
    )


def _waiting():
    expired = timezone.now() - timedelta(seconds=settings.FLAG_DRAIN_LEASE_SECONDS)
    return FlagPending.objects.filter(Q(claim__isnull=True) | Q(claimed_at__lt=expired))


def flags_pending_claim(*, size: int) -> Claim:
    """Claim up to `size` waiting faces, oldest first (rows another drain is claiming are skipped)."""
    token = uuid.uuid4()
    with transaction.atomic():
        ids = list(_waiting().order_by("queued_at", "face_id").select_for_update(skip_locked=True)
                   .values_list("face_id", flat=True)[:size])
        if ids:
            FlagPending.objects.filter(face_id__in=ids).update(claim=token, claimed_at=timezone.now())
    return Claim(token=token, face_ids=ids)


def flags_pending_release(claim: Claim) -> int:
    """Delete the claimed rows the drain checked; a face answered since (its claim cleared) stays pending."""
    if not claim.face_ids:
        return 0
    deleted, _ = FlagPending.objects.filter(face_id__in=claim.face_ids, claim=claim.token).delete()
    return deleted


def flags_pending_waiting() -> bool:
    """Return whether a face waits for a drain (unclaimed, or claimed by a drain whose lease ran out)."""
    return _waiting().exists()


def flags_drain_mark() -> bool:
    """Mark a drain as queued; return True when the caller should queue it: none was queued, or the one
    queued was queued longer ago than FLAG_DRAIN_RESEND_SECONDS (taken for lost).

    While a drain is queued (most answers under load), one plain read, which locks nothing; else one upsert
    that writes only when it wins, so concurrent answers queue one drain.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.FLAG_DRAIN_RESEND_SECONDS)
    if FlagDrain.objects.filter(pk=1, queued_at__gte=stale).exists():
        return False
    table = connection.ops.quote_name(FlagDrain._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, queued_at) VALUES (1, %s) ON CONFLICT (id) DO UPDATE "
            f"SET queued_at = excluded.queued_at WHERE {table}.queued_at IS NULL OR {table}.queued_at < %s "
            "RETURNING id",
            [adapt(now), adapt(stale)],
        )
        return cursor.fetchone() is not None


def flags_drain_unmark() -> None:
    """Mark no drain as queued (a drain has started, or could not be queued): the next answer queues one."""
    FlagDrain.objects.filter(pk=1).update(queued_at=None)
