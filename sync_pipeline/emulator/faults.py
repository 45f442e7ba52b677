"""Switchable faults: the same keys on the command line (``--faults``) and at run time (``POST /__emulator__/faults``).

A spec on the command line is ``key=value,key=value`` (lists with ``;``), e.g.
``latency_ms=20,error_rate=0.05,lock_ids=00Q5e0000000001AAA;00Q5e0000000002AAA``; JSON keys are the same.
Random faults draw from a generator seeded by the org seed, so a run with the same seed fails the same requests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from sync_pipeline.emulator import ids

LOGIN_FAULTS = {
    "INVALID_LOGIN": "Invalid username, password, security token; or user locked out.",
    "INVALID_OPERATION_WITH_EXPIRED_PASSWORD": "The users password has expired, you must call SetPassword before "
                                               "attempting any other API operations",
    "LOGIN_MUST_USE_SECURITY_TOKEN": "Invalid username, password, security token; or user locked out. Are you at a "
                                     "new location? When accessing Salesforce--either via a desktop client or the "
                                     "API--from outside of your company's trusted networks, you must add a security "
                                     "token to your password to log in.",
    "PASSWORD_LOCKOUT": "Your account has been locked out because of too many failed login attempts.",
    "API_DISABLED_FOR_ORG": "API is not enabled for this Organization or Partner",
}


# OAuth token errors a fault can make every OAuth login answer: name → (error, error_description).
OAUTH_FAULTS = {
    "unapproved": ("invalid_grant", "user hasn't approved this consumer"),
    "ip_restricted": ("invalid_grant", "ip restricted"),
    "inactive_user": ("invalid_grant", "inactive user"),
    "no_run_as_user": ("invalid_grant", "no client credentials user enabled"),
    "flow_disabled": ("unsupported_grant_type", "grant type not supported"),
}
SOAP_LOGIN_DISABLED = ("SOAP API login() is disabled by default in this org. Contact the org administrator to enable "
                       "SOAP API login().")


class FaultSpecError(ValueError):
    """A fault key or value the emulator does not know."""


@dataclass
class Faults:
    latency_ms: int = 0
    error_rate: float = 0.0
    reset_rate: float = 0.0
    expire_sessions: bool = False
    daily_api_limit: int = 100_000
    lock_ids: list[str] = field(default_factory=list)
    reject_email_domain: str | None = None
    login_fault: str | None = None  # one of LOGIN_FAULTS: every login answers with it
    oauth_fault: str | None = None  # one of OAUTH_FAULTS: every OAuth token request answers with it
    soap_login_disabled: bool = False  # as in new orgs: SOAP login() answers INVALID_OPERATION

    def update(self, changes: dict[str, Any]) -> None:
        """Apply the keys given; keys left out stay as they are."""
        known = {f.name: f for f in fields(self)}
        for key, value in changes.items():
            if key not in known:
                raise FaultSpecError(f"unknown fault '{key}'; known faults: {', '.join(sorted(known))}")
            setattr(self, key, _coerce(key, value))

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _coerce(key: str, value: Any) -> Any:
    """The value of fault ``key`` from the command line's text or JSON; FaultSpecError when it is not one."""
    try:
        return _COERCIONS.get(key, _optional_text)(value)
    except (TypeError, ValueError):  # a FaultSpecError too (it is a ValueError): every refusal reads the same
        raise FaultSpecError(f"fault '{key}' has an invalid value: {value!r}") from None


def _count(value: Any) -> int:
    number = int(value)
    if number < 0:
        raise ValueError
    return number


def _rate(value: Any) -> float:
    rate = float(value)
    if not 0 <= rate <= 1:
        raise ValueError
    return rate


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


def _record_ids(value: Any) -> list[str | None]:
    """A list, or ``;``-separated text, of record ids (15 or 18 characters), normalized to 18."""
    items = value.split(";") if isinstance(value, str) else list(value)
    normalized = [ids.normalize(str(item).strip()) for item in items if str(item).strip()]
    if any(item is None for item in normalized):
        raise ValueError
    return normalized


def _one_of(name: str, catalogue: dict[str, Any]) -> Callable[[Any], str | None]:
    """The coercion of a fault whose value names an entry of ``catalogue`` (or none: null, "" or "none")."""

    def coerce(value: Any) -> str | None:
        if value in (None, "", "none"):
            return None
        if value not in catalogue:
            raise FaultSpecError(f"{name} must be one of {', '.join(catalogue)}, not '{value}'")
        return str(value)

    return coerce


def _optional_text(value: Any) -> Any:
    return value or None


_COERCIONS: dict[str, Callable[[Any], Any]] = {
    "latency_ms": _count, "daily_api_limit": _count, "error_rate": _rate, "reset_rate": _rate,
    "expire_sessions": _flag, "lock_ids": _record_ids, "login_fault": _one_of("login_fault", LOGIN_FAULTS),
    "oauth_fault": _one_of("oauth_fault", OAUTH_FAULTS),
    "soap_login_disabled": _flag,
}


def parse_fault_spec(spec: str | None) -> dict[str, Any]:
    """``key=value,...`` or a JSON object → a dict of fault changes."""
    if not spec:
        return {}
    spec = spec.strip()
    if spec.startswith("{"):
        parsed = json.loads(spec)
        if not isinstance(parsed, dict):
            raise FaultSpecError("a JSON fault spec must be an object")
        return parsed
    out: dict[str, Any] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise FaultSpecError(f"fault '{part}' needs a value: write key=value")
        key, value = part.split("=", 1)
        out[key.strip()] = value.strip()
    return out
