"""How a webhook delivery is signed, and how a receiver checks it (HMAC-SHA256 over timestamp and body).

The same functions sign in the deliverer and verify in the tests, as the
README tells receivers to: one definition of the scheme.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Approval-Signature"
TIMESTAMP_HEADER = "X-Approval-Timestamp"
SUBSCRIPTION_HEADER = "X-Approval-Subscription"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256, keyed by the subscription's secret, of ``"<timestamp>." + body``.

    The timestamp is signed with the body so that a captured request cannot be
    replayed later: receivers reject timestamps far from their clock."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, signed: str, body: bytes, tolerance: int = 300, now: float | None = None
) -> bool:
    """What a receiver does: recompute the signature, compare in constant time, bound the clock skew."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, ts, body), signed)
