"""Errors of the Salesforce connection, worded for the person who has to fix them."""

from __future__ import annotations


class SalesforceDisconnected(Exception):
    """The org cannot be used: ``disconnected: <reason> — <fix>``. Never carries a secret."""

    def __init__(self, reason: str, *, code: str, fix: str = "update the credentials") -> None:
        self.reason = reason
        self.code = code
        self.fix = fix
        super().__init__(f"disconnected: {reason} — {fix}")


class SalesforceLimitReached(Exception):
    """Salesforce refused a call because the org's daily API allocation is used up (REQUEST_LIMIT_EXCEEDED)."""

    def __init__(self, object_name: str) -> None:
        self.object_name = object_name
        super().__init__(
            f"Salesforce refused the pull of {object_name}: the org's daily API request limit is reached "
            "(REQUEST_LIMIT_EXCEEDED). The pull stopped without retrying; nothing pulled so far is lost and the next "
            "run resumes from the last committed cursor once the allocation frees up (it is a rolling 24 hours)."
        )
