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
    "INVALID_OPERATION": ("Salesforce refused the SOAP login(): {message}",
                          "move to OAuth: SALESFORCE_AUTH=jwt with an External Client App (see the README's 'Running "
                          "against a real org'); until then an admin can enable SOAP API login() in the org"),
}
DEFAULT_FIX = "update the credentials"

APP_SETTINGS = "Setup > External Client App Manager > the app"
# OAuth token errors: (error, words in error_description) → reason and fix. The first match wins; "" matches any.
OAUTH_REASONS: list[tuple[str, str, str, str]] = [
    ("invalid_client_id", "", "the org knows no app with this consumer key",
     "check SALESFORCE_CONSUMER_KEY (the app's consumer key) and SALESFORCE_DOMAIN (login, test or the org's My "
     "Domain)"),
    ("invalid_client", "", "the consumer secret was refused",
     f"check SALESFORCE_CONSUMER_SECRET against the app's consumer secret ({APP_SETTINGS} > Settings > OAuth "
     "Settings)"),
    ("unsupported_grant_type", "", "the app does not allow this OAuth flow",
     f"enable the JWT bearer flow or the client credentials flow in {APP_SETTINGS} > Settings > OAuth Settings"),
    ("invalid_grant", "approved", "the integration user is not pre-authorized for the app",
     f"in {APP_SETTINGS} > Policies set Permitted Users to 'Admin approved users are pre-authorized' and add the "
     "integration user's profile or permission set"),
    ("invalid_grant", "audience", "the JWT audience is not this org's login server",
     "set SALESFORCE_DOMAIN to login for a production org, test for a sandbox (or the org's My Domain)"),
    ("invalid_grant", "expired authorization", "the JWT assertion had expired when Salesforce read it",
     "check this machine's clock: an assertion is valid for 3 minutes"),
    ("invalid_grant", "assertion", "the JWT assertion was refused (signature, consumer key or user)",
     "check that SALESFORCE_PRIVATE_KEY_FILE (or SALESFORCE_PRIVATE_KEY) is the key of the certificate uploaded to "
     "the app, SALESFORCE_CONSUMER_KEY the app's consumer key and SALESFORCE_USERNAME the integration user"),
    ("invalid_grant", "ip restricted", "the app's IP restrictions refused this machine",
     f"relax the IP restrictions in {APP_SETTINGS} > Policies, or add this machine's address to the trusted IP "
     "ranges"),
    ("invalid_grant", "inactive", "the integration user is inactive or frozen",
     "activate (or unfreeze) the integration user in Setup > Users"),
    ("invalid_grant", "client credentials user", "the app has no run-as user for the client credentials flow",
     f"choose a Run As user for the client credentials flow in {APP_SETTINGS} > Policies"),
    ("invalid_grant", "not supported on this domain", "the client credentials flow needs the org's My Domain",
     "set SALESFORCE_DOMAIN to the My Domain (e.g. yourco.my, or yourco--uat.sandbox.my)"),
    ("invalid_grant", "refresh token", "the refresh token was revoked or has expired",
     "authorize the app again to get a new refresh token"),
    ("invalid_grant", "", "Salesforce refused the login (authentication failure)",
     "check SALESFORCE_USERNAME, SALESFORCE_CONSUMER_KEY and the key or secret of the login mode in use"),
]


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
    """The disconnected state for a login Salesforce refused: its reason and fix, never a secret.

    A SOAP fault carries a code such as ``INVALID_LOGIN``; an OAuth token error ``error`` and ``error_description``
    (what the token endpoint answers holds no secret)."""
    code = str(error.code)
    if code in LOGIN_REASONS:
        reason, fix = LOGIN_REASONS[code]
        return SalesforceDisconnected(reason.format(message=error.auth_message.rstrip(".")), code=code, fix=fix)
    description = error.auth_message.lower()
    for oauth_error, words, reason, fix in OAUTH_REASONS:
        if code == oauth_error and words in description:
            return SalesforceDisconnected(f"{reason} ({code}: {error.auth_message})", code=code, fix=fix)
    return SalesforceDisconnected(f"login refused ({code})", code=code, fix=DEFAULT_FIX)


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
