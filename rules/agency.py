"""Agencies are paths from the top (``city/land/east``); a scope or a filter is a subtree.

Written once, here: the store's filters, the API's key scopes, webhook
subscriptions and the alert stream all ask the same two questions.
"""

from __future__ import annotations

from rules.errors import OutOfScope


def in_subtree(agency_id: str, root: str | None) -> bool:
    """Whether ``agency_id`` is ``root`` or below it; every agency is under ``None``."""
    if root is None:
        return True
    root = root.rstrip("/")
    return agency_id == root or agency_id.startswith(root + "/")


def narrow(scope: str | None, requested: str | None) -> str | None:
    """The subtree a query by a caller scoped to ``scope`` may cover; refuses one outside it."""
    if scope is None:
        return requested
    if requested is None:
        return scope
    req = requested.rstrip("/")
    if in_subtree(req, scope):
        return req
    raise OutOfScope(f"agency {requested!r} is outside this key's scope {scope!r}")
