"""The emulator's External Client App and the OAuth 2.0 token flows Salesforce serves for it.

``POST /services/oauth2/token`` with grant_type ``urn:ietf:params:oauth:grant-type:jwt-bearer`` (an RS256 assertion
signed by the key of the app's certificate: ``iss`` the consumer key, ``sub`` the integration user, ``aud``
``https://login.salesforce.com`` or, for a sandbox, ``https://test.salesforce.com``, ``exp`` at most 3 minutes
ahead), ``client_credentials`` (the consumer key and secret, on the org's My Domain only, run as the app's
integration user), ``refresh_token`` and ``password``. Refusals are the JSON bodies Salesforce answers
(``{"error": ..., "error_description": ...}``, HTTP 400).

The demo app has no certificate of its own in the repository: :func:`demo_app` makes a key pair when an emulator
starts, and the demo logs in with its private key.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_SECONDS = 180  # Salesforce: exp within 3 minutes
CLOCK_SKEW_SECONDS = 30
DEMO_CONSUMER_KEY = "3MVG9DemoAppConsumerKeyOfTheSalesforceEmulator"
DEMO_CONSUMER_SECRET = "DEMO0CONSUMER0SECRET0123456789"


class TokenRefused(Exception):
    """The token endpoint's refusal: ``{"error": error, "error_description": description}``."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description

    def as_json(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass(frozen=True)
class ClientApp:
    """The External Client App the integration logs in through."""

    consumer_key: str = DEMO_CONSUMER_KEY
    consumer_secret: str = DEMO_CONSUMER_SECRET
    public_key_pem: bytes | None = None  # of the certificate uploaded for the JWT flow; None: no JWT login

    def check_client(self, consumer_key: str, consumer_secret: str | None) -> None:
        """The app's own key, and its secret when the flow sends one."""
        if consumer_key != self.consumer_key:
            raise TokenRefused("invalid_client_id", "client identifier invalid")
        if consumer_secret is not None and not secrets.compare_digest(consumer_secret, self.consumer_secret):
            raise TokenRefused("invalid_client", "invalid client credentials")

    def jwt_subject(self, assertion: str, *, sandbox: bool, now: float | None = None) -> str:
        """The username an assertion logs in, once its issuer, signature, audience and expiry are right."""
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenRefused("invalid_grant", "invalid assertion") from None
        self.check_client(str(claims.get("iss", "")), None)
        if self.public_key_pem is None:
            raise TokenRefused("invalid_grant", "invalid assertion")
        audience = "https://test.salesforce.com" if sandbox else "https://login.salesforce.com"
        try:
            # The expiry is checked below, by Salesforce's rule (at most 3 minutes ahead), not by PyJWT's.
            claims = jwt.decode(assertion, self.public_key_pem, algorithms=["RS256"],
                                options={"verify_aud": False, "verify_exp": False, "require": ["exp", "sub"]})
        except jwt.PyJWTError:
            raise TokenRefused("invalid_grant", "invalid assertion") from None
        if claims.get("aud") != audience and audience not in (claims.get("aud") or []):
            raise TokenRefused("invalid_grant", "audience is invalid")
        now = time.time() if now is None else now
        try:
            expires = float(claims["exp"])
        except (TypeError, ValueError):
            raise TokenRefused("invalid_grant", "invalid assertion") from None
        if expires < now - CLOCK_SKEW_SECONDS:
            raise TokenRefused("invalid_grant", "expired authorization code")
        if expires > now + ASSERTION_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS:
            raise TokenRefused("invalid_grant", "invalid assertion")
        return str(claims["sub"])


def client_credentials(form: dict[str, str], authorization: str) -> tuple[str, str]:
    """The consumer key and secret of a request: HTTP Basic, else the form's client_id and client_secret."""
    if authorization.lower().startswith("basic "):
        try:
            key, _, secret = base64.b64decode(authorization.split(" ", 1)[1]).decode().partition(":")
        except ValueError:
            raise TokenRefused("invalid_client", "invalid client credentials") from None
        return key, secret
    return form.get("client_id", ""), form.get("client_secret", "")


def generate_key_pair() -> tuple[str, bytes]:
    """A fresh RSA key pair: the private key as PEM text, the public key as PEM bytes."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return private_pem, public_pem


def demo_app() -> tuple[ClientApp, str]:
    """The demo's app with a key pair made now, and the private key (PEM text) to log in with."""
    private_pem, public_pem = generate_key_pair()
    return ClientApp(public_key_pem=public_pem), private_pem


def public_key_of(pem: bytes) -> bytes:
    """The public key of a PEM certificate (what Salesforce takes for an app) or of a PEM public key."""
    try:
        public_key = (x509.load_pem_x509_certificate(pem).public_key() if b"BEGIN CERTIFICATE" in pem
                      else serialization.load_pem_public_key(pem))
    except ValueError:
        raise ValueError("not a PEM certificate or public key") from None
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
