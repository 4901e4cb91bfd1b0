"""django-scim2's documented setup, for the benchmark's comparison (benchmarks/compare_scim2.py).

Runs in its own virtualenv (django-scim2 from PyPI), never imported by django-provisioning.
The user model adds django-scim2's ``AbstractSCIMUserMixin`` (``scim_id``,
``scim_external_id``, ``scim_username``) to ``AbstractUser`` (``email``); the filter query maps
``externalId`` and ``emails.value`` to those columns, so the same filters work on both sides.
A bearer token (``SCIM2_BENCH_TOKEN``) authenticates as the one service account, as our
connection's token does: django-scim2 itself authenticates with the session only.
"""

from __future__ import annotations

import os

SECRET_KEY = "scim2-benchmark-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "scim2_project.urls"
WSGI_APPLICATION = "scim2_project.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django_scim",
    "accounts",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.auth.BearerTokenMiddleware",
    "django_scim.middleware.SCIMAuthCheckMiddleware",
]
AUTH_USER_MODEL = "accounts.User"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SCIM2_DB", "/tmp/scim2-bench.sqlite3"),
        "CONN_MAX_AGE": 600,
        "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"},
    }
}
SCIM_SERVICE_PROVIDER = {
    "NETLOC": "127.0.0.1",
    "USER_FILTER_PARSER": "accounts.filters.UserFilterQuery",
    "AUTHENTICATION_SCHEMES": [
        {
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication scheme using the OAuth Bearer Token Standard",
            "specUri": "http://www.rfc-editor.org/info/rfc6750",
        }
    ],
}
BENCH_TOKEN = os.environ.get("SCIM2_BENCH_TOKEN", "scim2-bench-token")
