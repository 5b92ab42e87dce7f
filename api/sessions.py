"""Sign-in for the page: a key exchanged once for a session in an HTTP-only cookie, so no script ever holds it.

The session names the key by its SHA-256 (never the key) and an expiry, signed
with the API's session secret; every request looks the key up again, so a key
removed from the configuration ends its sessions at once.  The cookie is
``HttpOnly`` and ``SameSite=Strict``, and a request that changes anything with
it must also carry ``X-Requested-With: approval-monitor`` (a header no other site
can make a browser send): cross-site requests cannot act in a supervisor's name.
Tokens are stateless: signing out clears the cookie; a copied token stays good
until it expires (``APPROVAL_MONITOR_SESSION_HOURS``).
"""

from __future__ import annotations

import hashlib
import hmac
import os

COOKIE = "am_session"
CSRF_HEADER = "x-requested-with"
CSRF_VALUE = "approval-monitor"


class Sessions:
    def __init__(self, secret: bytes | None = None, hours: float = 8.0) -> None:
        self.secret = secret or os.urandom(32)  # one process: a restart signs everyone out
        self.ttl = int(hours * 3600)

    def _sign(self, body: str) -> str:
        return hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()

    def issue(self, digest: str, now: int) -> tuple[str, int]:
        """A token for the key with SHA-256 ``digest``, and when it expires."""
        expires = now + self.ttl
        body = f"{digest}.{expires}"
        return f"{body}.{self._sign(body)}", expires

    def check(self, token: str | None, now: int) -> str | None:
        """The key digest a token names, if it is one this API signed and it has not expired."""
        if not token or token.count(".") != 2:
            return None
        digest, expires, sig = token.split(".")
        if not expires.isdigit() or int(expires) <= now:
            return None
        return digest if hmac.compare_digest(sig, self._sign(f"{digest}.{expires}")) else None
