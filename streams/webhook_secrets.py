"""Webhook signing secrets, encrypted at rest.

A subscription's secret lets anyone who has it forge the monitor's signature, and it
would otherwise sit in clear on the subscriptions topic and in the deliverer's table
changelog.  It is sealed with authenticated encryption (``cryptography``'s Fernet:
AES-128-CBC with HMAC-SHA256) under a key from configuration
(``APPROVAL_MONITOR_WEBHOOK_SECRET_KEY``): the API seals it when the subscription is made,
the deliverer opens it to sign; neither Kafka nor its backups hold it in clear.
"""

from __future__ import annotations

import logging

from cryptography.fernet import Fernet, InvalidToken

from rules.errors import BadInput

SEALED = "sealed:v1:"
log = logging.getLogger("approval_monitor.webhooks")


def new_key() -> str:
    return Fernet.generate_key().decode()


class SecretBox:
    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError):
            raise BadInput(
                "APPROVAL_MONITOR_WEBHOOK_SECRET_KEY is not a key: give 32 url-safe base64-encoded bytes, "
                "as `approval-monitor keys webhook-key` prints"
            ) from None

    def seal(self, secret: str) -> str:
        return SEALED + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str, subscription: str = "") -> str:
        """The secret in clear; a subscription stored before secrets were sealed keeps working, with a warning."""
        if not stored.startswith(SEALED):
            log.warning("subscription %s keeps its secret in clear: re-create it to seal it", subscription,
                        extra={"subscription": subscription})  # fmt: skip
            return stored
        try:
            return self._fernet.decrypt(stored.removeprefix(SEALED).encode()).decode()
        except InvalidToken:
            raise BadInput(
                f"subscription {subscription}: its secret was sealed with another key; set the "
                "APPROVAL_MONITOR_WEBHOOK_SECRET_KEY it was made with, or re-create the subscription"
            ) from None
