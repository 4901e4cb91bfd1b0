"""Time djangosaml2's ACS on responses ``benchmarks/bench_acs.py`` made (its own virtualenv).

    .venv-djangosaml2/bin/python acs_bench.py RESPONSES.json

Run by ``bench_acs.py --djangosaml2``, never by hand. The JSON names the IdP (entity id, SSO
URL, signing certificate) and holds base64 SAML Responses addressed to this SP
(``http://testserver/saml2/metadata/``, ACS ``http://testserver/saml2/acs/``), unsolicited
(djangosaml2's documented ``allow_unsolicited``: it keeps no outstanding AuthnRequest here).
djangosaml2's documented setup: ``Saml2Backend``, ``SamlSessionMiddleware``, users created
from the NameID, e-mail and first name mapped. Each response is POSTed to its ACS with
Django's test client (like our ACS in ``bench_acs.py``); prints the median in ms as JSON.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import django
from django.conf import settings

data = json.loads(Path(sys.argv[1]).read_text())
cert = "".join(line for line in data["idp_cert"].splitlines() if line and "CERTIFICATE" not in line)
KEY_INFO = (
    "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>"
    f"{cert}"
    "</ds:X509Certificate></ds:X509Data></ds:KeyInfo>"
)
IDP_METADATA = f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{data["idp_entity_id"]}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">{KEY_INFO}</md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="{data["idp_sso_url"]}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""

settings.configure(
    DEBUG=False,
    SECRET_KEY="djangosaml2-benchmark",
    ALLOWED_HOSTS=["testserver"],
    ROOT_URLCONF=__name__,
    USE_TZ=True,
    INSTALLED_APPS=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "djangosaml2",
    ],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "djangosaml2.middleware.SamlSessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    AUTHENTICATION_BACKENDS=[
        "django.contrib.auth.backends.ModelBackend",
        "djangosaml2.backends.Saml2Backend",
    ],
    LOGIN_REDIRECT_URL="/",
    SAML_SESSION_COOKIE_NAME="saml_session",
    SAML_CREATE_UNKNOWN_USER=True,
    SAML_USE_NAME_ID_AS_USERNAME=True,
    SAML_DJANGO_USER_MAIN_ATTRIBUTE="username",
    SAML_ATTRIBUTE_MAPPING={"email": ("email",), "firstName": ("first_name",)},
    SAML_CONFIG={
        "xmlsec_binary": shutil.which("xmlsec1"),
        "entityid": "http://testserver/saml2/metadata/",
        "allow_unknown_attributes": True,
        "service": {
            "sp": {
                "name": "benchmark SP",
                "endpoints": {
                    "assertion_consumer_service": [
                        (
                            "http://testserver/saml2/acs/",
                            "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
                        )
                    ],
                },
                "allow_unsolicited": True,
                "want_assertions_signed": True,
                "want_response_signed": False,
                "authn_requests_signed": False,
            }
        },
        "metadata": {"inline": [IDP_METADATA]},
        "debug": 0,
    },
)
django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import include, path  # noqa: E402

urlpatterns = [path("saml2/", include("djangosaml2.urls"))]

call_command("migrate", verbosity=0)
times = []
for encoded in data["responses"]:
    client = Client()
    started = time.perf_counter()
    response = client.post("/saml2/acs/", {"SAMLResponse": encoded})
    times.append(time.perf_counter() - started)
    if response.status_code != 302:
        print(json.dumps({"error": response.status_code, "body": response.content[:300].decode()}))
        sys.exit(1)
print(json.dumps({"median_ms": statistics.median(times) * 1000, "n": len(times)}))
