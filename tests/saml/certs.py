"""Throwaway self-signed certificates with chosen validity dates, made on the fly for tests."""

from __future__ import annotations

import datetime as dt
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@cache
def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_cert(not_before: dt.datetime, not_after: dt.datetime, name: str = "Test IdP") -> str:
    """A PEM certificate for *name*, valid from *not_before* to *not_after* (UTC)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(_key(), hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def cert_valid_for(days: float, name: str = "Test IdP") -> str:
    """A certificate valid since a year ago that expires *days* from now (negative: ago)."""
    now = dt.datetime.now(dt.timezone.utc)
    return make_cert(now - dt.timedelta(days=365), now + dt.timedelta(days=days), name)
