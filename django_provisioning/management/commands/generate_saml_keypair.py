"""Write a self-signed RSA-2048 certificate and private key for a development SAML SP."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


def make_keypair(common_name: str, days: int) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) of a new self-signed RSA-2048 / SHA-256 pair."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
    except ImportError as exc:  # pragma: no cover - cryptography ships with pysaml2 and pip
        raise CommandError(
            "The 'cryptography' package is needed: pip install cryptography"
        ) from exc
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert_pem, key_pem


class Command(BaseCommand):
    help = (
        "Generate a self-signed SAML SP certificate and private key for development. "
        "Use a certificate from your PKI or a longer-lived pair in production."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cn", default="django-provisioning SP", help="certificate CN")
        parser.add_argument("--days", type=int, default=365, help="validity in days")
        parser.add_argument("--out-dir", default=".", help="directory to write sp.crt / sp.key")
        parser.add_argument("--name", default="sp", help="file name stem (default: sp)")
        parser.add_argument("--force", action="store_true", help="overwrite existing files")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] < 1:
            raise CommandError("--days must be at least 1.")
        out = Path(options["out_dir"])
        out.mkdir(parents=True, exist_ok=True)
        cert_path = out / f"{options['name']}.crt"
        key_path = out / f"{options['name']}.key"
        for path in (cert_path, key_path):
            if path.exists() and not options["force"]:
                raise CommandError(f"{path} exists; pass --force to overwrite it.")
        cert_pem, key_pem = make_keypair(options["cn"], options["days"])
        cert_path.write_bytes(cert_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key_pem)
        self.stdout.write(f"Certificate: {cert_path.resolve()}")
        self.stdout.write(f"Private key: {key_path.resolve()} (mode 600)")
        self.stdout.write("")
        # The two keys alone: a whole DJANGO_PROVISIONING = {...} block, pasted into settings
        # that have one, would replace it (connections and all).
        self.stdout.write(
            "Add these two keys to your DJANGO_PROVISIONING setting (PEM text or a file path "
            "both work):"
        )
        self.stdout.write(f'    "SAML_SP_CERTIFICATE": "{cert_path.resolve()}",')
        self.stdout.write(f'    "SAML_SP_PRIVATE_KEY": "{key_path.resolve()}",')
        self.stdout.write("")
        self.stdout.write(cert_pem.decode("ascii"))
