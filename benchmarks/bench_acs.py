"""Time the whole ACS (both steps) against python3-saml's bare validation of the same response.

    DJANGO_SETTINGS_MODULE=tests.settings python benchmarks/bench_acs.py [-n 50] [--check]

Sets up an in-memory SQLite database itself. The tests' pure-Python IdP (``tests/saml/idp.py``)
plays the identity provider; responses are generated before timing starts. For each response:

* *ACS*: our step 1 (size cap, hardened parse, structure, transform and reference checks,
  address and InResponseTo checks, python3-saml validation, replay insert, pending row) and
  step 2 (session check, JIT provisioning, ``login()``), through Django's test client: a full
  HTTP round trip minus the network. Timed twice: for *n* first sign-ins (JIT creates each
  account) and for *n* returning users (each signed in once before, untimed; JIT finds and
  updates the account), the common case.
* *bare*: ``OneLogin_Saml2_Response(settings, response).is_valid(request_data, request_id)``,
  python3-saml as shipped (its XML schema compiled on every call; the ACS has it compiled once
  per thread, ``django_provisioning.saml.schemas``). The same with the schema kept is printed
  for the record; the ratios are against the bare validation as shipped.

``--djangosaml2`` also times djangosaml2's ACS (from PyPI, in its own virtualenv,
``benchmarks/.venv-djangosaml2``, made once) on responses the same IdP signs the same way for
its SP (``benchmarks/djangosaml2_project/acs_bench.py``; unsolicited, as its documented
``allow_unsolicited`` accepts them) and prints the ratio djangosaml2 / ours (above 1: ours is
faster). pysaml2 needs Debian's ``xmlsec1``.

``--check`` exits 1 when either ratio ACS / bare is over ``--limit`` (2, the issue's target).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["DATABASE"] = "sqlite"  # always the in-memory database of tests.settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50, help="round trips (default 50)")
    parser.add_argument("--check", action="store_true", help="exit 1 when over --limit")
    parser.add_argument("--limit", type=float, default=2.0, help="ratio ACS / bare (2)")
    parser.add_argument("--djangosaml2", action="store_true", help="time djangosaml2's ACS too")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client, RequestFactory
    from django.test.utils import override_settings
    from lxml import etree
    from onelogin.saml2.response import OneLogin_Saml2_Response
    from onelogin.saml2.settings import OneLogin_Saml2_Settings
    from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

    from django_provisioning.models import Connection
    from django_provisioning.saml.config import build_saml_settings, request_data
    from tests.saml.idp import IDP_ENTITY_ID, IDP_SSO_URL, TestIdP, b64, pem

    with override_settings(ROOT_URLCONF="tests.saml.urls", DEBUG=False):
        assert settings.DATABASES["default"]["NAME"] == ":memory:"
        call_command("migrate", run_syncdb=True, verbosity=0)
        connection = Connection.objects.create(
            slug="acme",
            name="Acme",
            idp_entity_id=IDP_ENTITY_ID,
            idp_sso_url=IDP_SSO_URL,
            idp_x509_certs=[pem("idp.crt")],
        )
        idp = TestIdP(Client().get("/sso/acme/metadata/").content.decode())

        def prepare(i: int) -> tuple[Any, str, str, str]:
            """A browser that started a sign-in of user *i*, and the IdP's response to it."""
            browser = Client()
            start = browser.get("/sso/acme/login/")
            request, relay_state = idp.parse_login_redirect(start["Location"])
            xml = idp.response_xml(
                sp_entity_id="http://testserver/sso/acme/metadata/",
                acs_url="http://testserver/sso/acme/acs/",
                in_response_to=request.id,
                name_id=f"user{i}@example.com",
                attributes={"email": [f"user{i}@example.com"], "firstName": ["Bench"]},
            )
            return browser, request.id, relay_state, b64(xml)

        def sign_in(browser: Any, relay_state: str, encoded: str) -> float:
            started = time.perf_counter()
            step1 = Client().post(
                "/sso/acme/acs/", {"SAMLResponse": encoded, "RelayState": relay_state}
            )
            step2 = browser.get(step1["Location"])
            elapsed = time.perf_counter() - started
            assert step1.status_code == 303 and step2.status_code == 302, step2.content
            return elapsed

        print(f"Preparing {args.n} test IdP responses ...", flush=True)
        rounds = [prepare(i) for i in range(args.n)]
        # Returning users: users n..2n-1 sign in once (untimed), then again.
        for i in range(args.n, 2 * args.n):
            browser, _request_id, relay_state, encoded = prepare(i)
            sign_in(browser, relay_state, encoded)
        again = [prepare(i) for i in range(args.n, 2 * args.n)]

        factory = RequestFactory()
        ours = OneLogin_Saml2_XML.__dict__["_schema_class"]

        def bare_is_valid(request_id: str, encoded: str, *, as_shipped: bool) -> float:
            # python3-saml as shipped compiles its XML schema on every call; the app's ready()
            # has it compiled once per thread (django_provisioning.saml.schemas).
            OneLogin_Saml2_XML._schema_class = etree.XMLSchema if as_shipped else ours
            try:
                post = factory.post("/sso/acme/acs/", {"SAMLResponse": encoded})
                started = time.perf_counter()
                saml = OneLogin_Saml2_Settings(build_saml_settings(connection, post))
                valid = OneLogin_Saml2_Response(saml, encoded).is_valid(
                    request_data(post), request_id, raise_exceptions=True
                )
                elapsed = time.perf_counter() - started
            finally:
                OneLogin_Saml2_XML._schema_class = ours
            assert valid
            return elapsed

        # Taking turns, one of each at a time: the machine's drift weighs on all four alike.
        bare: list[float] = []
        bare_compiled: list[float] = []  # for the record: the same with the schema kept
        acs: list[float] = []
        returning: list[float] = []
        for (browser, request_id, relay, encoded), returner in zip(rounds, again, strict=True):
            bare.append(bare_is_valid(request_id, encoded, as_shipped=True))
            bare_compiled.append(bare_is_valid(request_id, encoded, as_shipped=False))
            acs.append(sign_in(browser, relay, encoded))
            returning.append(sign_in(returner[0], returner[2], returner[3]))

        theirs: dict[str, Any] | None = None
        if args.djangosaml2:
            responses = [
                b64(
                    idp.response_xml(
                        sp_entity_id="http://testserver/saml2/metadata/",
                        acs_url="http://testserver/saml2/acs/",
                        in_response_to=None,
                        name_id=f"user{i}@example.com",
                        attributes={"email": [f"user{i}@example.com"], "firstName": ["Bench"]},
                    )
                )
                for i in range(args.n)
            ]
            theirs = djangosaml2_acs(
                {
                    "idp_entity_id": IDP_ENTITY_ID,
                    "idp_sso_url": IDP_SSO_URL,
                    "idp_cert": pem("idp.crt"),
                    "responses": responses,
                }
            )

    ms_acs = statistics.median(acs) * 1000
    ms_again = statistics.median(returning) * 1000
    ms_bare = statistics.median(bare) * 1000
    ms_bare_compiled = statistics.median(bare_compiled) * 1000
    print(f"round trips:                       {args.n} (and {args.n} of returning users)")
    print(f"ACS, first sign-in (median):       {ms_acs:8.2f} ms/op")
    print(f"ACS, returning user (median):      {ms_again:8.2f} ms/op")
    print(f"python3-saml is_valid (median):    {ms_bare:8.2f} ms/op")
    print(f"  the same, schema compiled once:  {ms_bare_compiled:8.2f} ms/op (for the record)")
    ratio = ms_acs / ms_bare
    ratio_again = ms_again / ms_bare
    print(f"ratio ACS / bare, first sign-in:   {ratio:8.2f}x (target <= {args.limit:g}x)")
    print(f"ratio ACS / bare, returning user:  {ratio_again:8.2f}x (target <= {args.limit:g}x)")
    if theirs is not None:
        ms_theirs = float(theirs["median_ms"])
        print(f"djangosaml2 ACS (median):          {ms_theirs:8.2f} ms/op")
        print(
            f"ratio djangosaml2 / ours:          {ms_theirs / ms_acs:8.2f}x (above 1: ours faster)"
        )
    missed = [
        f"MISSED: the ACS of a {who} takes {value:.2f}x python3-saml's bare is_valid"
        for who, value in (("first sign-in", ratio), ("returning user", ratio_again))
        if value > args.limit
    ]
    print("\n".join(missed))
    return 1 if missed and args.check else 0


def djangosaml2_acs(data: dict[str, Any]) -> dict[str, Any]:
    """djangosaml2's ACS timed on *data* in its own virtualenv (created once)."""
    venv = ROOT / "benchmarks" / ".venv-djangosaml2"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if subprocess.run([str(python), "-c", "import djangosaml2"], check=False).returncode:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "djangosaml2"], check=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(data, handle)
    script = ROOT / "benchmarks" / "djangosaml2_project" / "acs_bench.py"
    done = subprocess.run(
        [str(python), str(script), handle.name], capture_output=True, text=True, check=False
    )
    Path(handle.name).unlink()
    if done.returncode:
        raise SystemExit(f"djangosaml2's ACS failed: {done.stdout} {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    sys.exit(main())
