"""The one root of the errors this product raises on purpose, and its kinds.

Every room raises these; the API maps each kind to an RFC 9457 problem in one
place (``api/problems.py``) and the CLI to one line and exit code 2.  Anything
else that escapes is a bug, and is answered as such.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Something the caller can fix; the message names the field, the value and the fix."""


class BadInput(MonitorError, ValueError):
    """A parameter, body or file that is not what it must be."""


class BadCursor(BadInput):
    """A page cursor this product did not make (or made for another query)."""


class TooLarge(BadInput):
    """A body or an input above the size this product accepts."""


class OutOfScope(MonitorError, PermissionError):
    """An agency outside the caller's scope."""


class Forbidden(MonitorError, PermissionError):
    """The caller's role may not do this."""


class NotFound(MonitorError, LookupError):
    """Nothing the caller may see has that name."""


class Conflict(MonitorError):
    """What is asked for does not fit the state it applies to (a 督办 already answered, an appeal decided)."""


class Unavailable(MonitorError):
    """A part this action needs is not configured or does not answer."""
