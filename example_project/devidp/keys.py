"""The development IdP's signing key: generated on first run, kept beside the demo database.

Read by the example's settings (the connections' IdP certificate) and by the IdP's views (the
key it signs with). Not a secret worth the name: it signs for a demo IdP that only runs with
``DEBUG`` on. Delete the folder to get a new pair (and run ``demo_setup`` again, which writes
the new certificate onto the database connection).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django_provisioning.management.commands.generate_saml_keypair import make_keypair

CERT_NAME = "devidp.crt"
KEY_NAME = "devidp.key"


@dataclass(frozen=True)
class KeyPair:
    cert_path: Path
    key_path: Path

    @property
    def cert_pem(self) -> str:
        return self.cert_path.read_text(encoding="ascii")

    @property
    def key_pem(self) -> str:
        return self.key_path.read_text(encoding="ascii")


def ensure_keypair(folder: Path) -> KeyPair:
    """The pair in *folder*, generated (RSA-2048, ten years) when it is not there yet.

    Safe when two processes start at once (runserver's reloader): the pair is written into a
    temporary folder beside *folder*, which is then renamed to *folder* in one step; the
    process that loses the race drops its pair and uses the winner's.
    """
    pair = KeyPair(folder / CERT_NAME, folder / KEY_NAME)
    if pair.cert_path.exists() and pair.key_path.exists():
        return pair
    folder.parent.mkdir(parents=True, exist_ok=True)
    cert_pem, key_pem = make_keypair("django-provisioning demo IdP", 3650)
    temp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    for name, data in ((KEY_NAME, key_pem), (CERT_NAME, cert_pem)):
        fd = os.open(temp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    try:
        os.rename(temp, folder)  # replaces *folder* only when it is an empty folder
    except OSError:
        shutil.rmtree(temp, ignore_errors=True)  # another process won the race
    return pair
