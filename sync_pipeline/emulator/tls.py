"""The emulator's HTTPS: a certificate for 127.0.0.1 and localhost, made when it starts.

The certificate is its own authority (self-signed, CA true), so a client trusts it by pointing at the one file:
``REQUESTS_CA_BUNDLE`` or ``SSL_CERT_FILE`` for Python, ``NODE_EXTRA_CA_CERTS`` for Node clients. The key stays in a
private folder (mode 0700) of its own and is never reused.
"""

from __future__ import annotations

import ipaddress
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class TlsFiles:
    certificate: Path  # PEM: the file clients trust
    key: Path  # PEM private key of the certificate, for the server alone


def make_tls_files(folder: Path | None = None) -> TlsFiles:
    """A fresh key and a certificate valid for 127.0.0.1 and localhost for 30 days, written to ``folder`` (a new
    private temporary folder by default)."""
    folder = folder or Path(tempfile.mkdtemp(prefix="sync-pipeline-emulator-tls-"))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Salesforce emulator (127.0.0.1)")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=True,
                                     crl_sign=False, content_commitment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_file = folder / "emulator.key"
    key_file.touch(mode=0o600)
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    certificate_file = folder / "emulator.crt"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return TlsFiles(certificate_file, key_file)
