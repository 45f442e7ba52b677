"""Errors of the Salesforce connection, worded for the person who has to fix them."""

from __future__ import annotations


class SalesforceDisconnected(Exception):
    """The org cannot be used: ``disconnected: <reason> — <fix>``. Never carries a secret."""

    def __init__(self, reason: str, *, code: str, fix: str = "update the credentials") -> None:
        self.reason = reason
        self.code = code
        self.fix = fix
        super().__init__(f"disconnected: {reason} — {fix}")
