"""Settings of the example SaaS: DEBUG on, SQLite, two organizations with a connection each.

For local trying-out only (``tox -e demo``); never deploy these settings. The database file is
``example_project/db.sqlite3`` unless ``EXAMPLE_PROJECT_DB`` names another path; the
development IdP's key pair is generated on first run into ``devidp-keys/`` beside it (or
``DEVIDP_KEY_DIR``). The demo is served at ``DEMO_ORIGIN`` (default
``http://127.0.0.1:$DEMO_PORT``, port 8000), where both connections find the development IdP.
"""

from __future__ import annotations

import os
from pathlib import Path

from devidp.directory import idp_options
from devidp.keys import ensure_keypair

BASE_DIR = Path(__file__).resolve().parent.parent  # the example_project/ folder
DATABASE_PATH = os.environ.get("EXAMPLE_PROJECT_DB") or str(BASE_DIR / "db.sqlite3")
DEMO_ORIGIN = os.environ.get("DEMO_ORIGIN") or (
    f"http://127.0.0.1:{os.environ.get('DEMO_PORT') or 8000}"
)

SECRET_KEY = "example-project-insecure-not-a-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_provisioning",
    "demo",
    # The development IdP (example_project/devidp/): its pages answer only with DEBUG on.
    "devidp",
]

MIDDLEWARE = [
    "django_provisioning.scim.middleware.ScimErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    # Logs in the users that SAML sign-in provisioned; refuses deactivated ones.
    "django_provisioning.backends.ProvisioningBackend",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# SQLite set up for concurrent writers (docs/install.rst, "SQLite"): an identity provider pushes
# several SCIM requests at once, and Django's defaults answer some of them "database is locked".
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATABASE_PATH,
        "OPTIONS": {
            # A write transaction takes the write lock at BEGIN, where the busy timeout applies;
            # a deferred one that reads first and then writes fails at once instead of waiting.
            "transaction_mode": "IMMEDIATE",
            # Seconds a writer waits for the lock (the busy timeout) before giving up.
            "timeout": 20,
            # WAL: readers never block the writer, nor the writer them. synchronous=FULL: an
            # acknowledged write (a deactivation, say) survives a power cut too, not only a
            # killed process.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL",
        },
    }
}

STATIC_URL = "static/"
LOGIN_URL = "/signin/"
LOGIN_REDIRECT_URL = "/dashboard/"
LOGOUT_REDIRECT_URL = "/"

# The development IdP: where it is served and the key it signs with (generated on first run).
DEVIDP_ORIGIN = DEMO_ORIGIN
DEVIDP_KEY_DIR = Path(
    os.environ.get("DEVIDP_KEY_DIR") or Path(DATABASE_PATH).parent / "devidp-keys"
)
DEVIDP_CERT = ensure_keypair(DEVIDP_KEY_DIR).cert_pem

DJANGO_PROVISIONING = {
    # Resolves each connection's organization and makes the users it provisions members.
    "ADAPTER": "demo.adapter.OrganizationAdapter",
    # The setup portal (setup/): `tox -e manage -- create_setup_link globex` prints a link.
    "PORTAL_BASE_URL": DEMO_ORIGIN,
    # The portal fetches metadata URLs over HTTPS from public hosts only; with DEBUG on, these
    # hosts are let through too, so the development IdP's metadata URL works in the portal.
    "METADATA_FETCH_ALLOWED_HOSTS": [DEMO_ORIGIN.split("://", 1)[1]],
    "CONNECTIONS": {
        # One customer's identity provider. Its SCIM token comes from `demo_setup` (or
        # `tox -e manage -- create_scim_token demo`). Its SAML IdP is the development IdP
        # (idp_entity_id, idp_sso_url, idp_slo_url, idp_x509_certs, groups_attribute,
        # group_mapping); for a real IdP, put its values here instead. The second customer's
        # connection, `globex`, is created in the database by `demo_setup`, as a SaaS's
        # onboarding would.
        "demo": {
            "name": "Demo customer",
            # Verified for this connection only: the sign-in page sends example.com here.
            "verified_domains": ["example.com"],
            # The organization it belongs to (demo.Organization's slug), resolved by the
            # adapter's get_tenant; not a Connection field.
            "tenant": "demo",
            **idp_options(DEVIDP_ORIGIN, "demo", DEVIDP_CERT),
        },
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # demo/log_filters.py: one line per SCIM request (the package's), no traceback for a 403.
    "filters": {
        "skip_scim_requests": {"()": "demo.log_filters.SkipScimRequests"},
        "no_traceback_for_403": {"()": "demo.log_filters.NoTracebackForForbidden"},
    },
    "formatters": {
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        # Django's own handler of runserver's request lines, declared again to keep it.
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server"},
    },
    "loggers": {
        "django_provisioning": {"handlers": ["console"], "level": "INFO"},
        "django.server": {
            "handlers": ["django.server"],
            "level": "INFO",
            "propagate": False,
            "filters": ["skip_scim_requests"],
        },
        # No handlers: its records go on to Django's "django" logger, filtered here first.
        "django.request": {"filters": ["skip_scim_requests", "no_traceback_for_403"]},
    },
}
