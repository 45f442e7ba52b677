"""Errors of the Salesforce connection, worded for the person who has to fix them."""

from __future__ import annotations

from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

# Login fault codes, in the words a data engineer can act on, and what to do about each.
LOGIN_REASONS: dict[str, tuple[str, str]] = {
    "INVALID_LOGIN": ("invalid username, password or security token, or the user is locked out or inactive",
                      "check SALESFORCE_USERNAME, SALESFORCE_PASSWORD and SALESFORCE_SECURITY_TOKEN"),
    "INVALID_OPERATION_WITH_EXPIRED_PASSWORD": (
        "the password has expired",
        "set a new password for the integration user and update SALESFORCE_PASSWORD (and SALESFORCE_SECURITY_TOKEN: "
        "a password change resets it)"),
    "LOGIN_MUST_USE_SECURITY_TOKEN": ("the security token is missing or wrong", "update SALESFORCE_SECURITY_TOKEN"),
    "PASSWORD_LOCKOUT": ("the user is locked out after too many failed logins",
                         "unlock the integration user in Setup > Users, then check SALESFORCE_PASSWORD"),
    "API_DISABLED_FOR_ORG": ("the API is not enabled for this org or user",
                             "give the integration user the API Enabled permission"),
    "LOGIN_MUST_USE_MFA": ("the user must log in with multi-factor authentication",
                           "exempt the integration user from MFA for API logins, or use an OAuth flow"),
    "INVALID_SSO_GATEWAY_URL": ("the user is bound to single sign-on", "use an integration user without SSO"),
}
DEFAULT_FIX = "update the credentials"


class SalesforceDisconnected(Exception):
    """The org cannot be used: ``disconnected: <reason> — <fix>``. Never carries a secret."""

    def __init__(self, reason: str, *, code: str, fix: str = DEFAULT_FIX) -> None:
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


def login_refused(error: SalesforceAuthenticationFailed) -> SalesforceDisconnected:
    """The disconnected state for a login Salesforce refused: its reason and fix, never a secret."""
    code = str(error.code)
    reason, fix = LOGIN_REASONS.get(code, (f"login refused ({code})", DEFAULT_FIX))
    return SalesforceDisconnected(reason, code=code, fix=fix)


def error_code(error: SalesforceError) -> str | None:
    """The ``errorCode`` of a REST error body (``[{"errorCode": ..., "message": ...}]``), if it has one."""
    content = error.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        code = content[0].get("errorCode")
        return str(code) if code is not None else None
    return None


def error_message(error: SalesforceError) -> str:
    """The ``message`` of a REST error body, else the HTTP status."""
    content = error.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("message", ""))
    return f"HTTP {error.status} from Salesforce"
