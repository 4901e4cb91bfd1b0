"""The example project that ``tox -e demo`` runs: its setup command works from an empty database.

Each test runs ``example_project/manage.py`` in a subprocess, as ``tox -e demo`` does, against
a SQLite file in a temporary folder (``EXAMPLE_PROJECT_DB``), with this source tree first on
the path so the code under test is the one checked out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MANAGE = ROOT / "example_project" / "manage.py"
TOKEN_LINE = re.compile(r"^\s*Bearer token:\s+(scim_\S+)\s*$", re.MULTILINE)
ORGANIZATION = re.compile(
    r"Organization:\s+(.+?) \(connection (\S+), .*?\)\n"
    r"\s+SCIM base URL:\s+(\S+)\n\s+Bearer token:\s+(scim_\S+)"
)


def manage(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "example_project.settings"  # pytest-django set tests.settings
    env["EXAMPLE_PROJECT_DB"] = str(db)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, str(MANAGE), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "demo.sqlite3"


def authenticates(db: Path, token: str) -> str:
    """The slug of the connection *token* authenticates for, or '' (checked in the project)."""
    code = (
        "from django_provisioning.tokens import authenticate_token\n"
        f"t = authenticate_token({token!r})\n"
        "print('SLUG=' + (t.connection.slug if t else ''))\n"
    )
    result = manage(db, "shell", "-c", code)
    assert result.returncode == 0, result.stderr
    match = re.search(r"^SLUG=(.*)$", result.stdout, re.MULTILINE)
    assert match, result.stdout
    return match.group(1)


def test_demo_setup_prints_base_url_and_a_working_token(db_file: Path) -> None:
    result = manage(db_file, "demo_setup")

    assert result.returncode == 0, result.stderr
    assert "SCIM base URL:  http://127.0.0.1:8000/scim/v2/" in result.stdout
    match = TOKEN_LINE.search(result.stdout)
    assert match, result.stdout
    token = match.group(1)
    assert f"curl -H 'Authorization: Bearer {token}' http://127.0.0.1:8000/scim/v2/Users" in (
        result.stdout
    )
    assert db_file.exists()
    assert authenticates(db_file, token) == "demo"
    assert authenticates(db_file, token + "x") == ""
    # Two organizations, each with its connection, its SCIM base URL and its token.
    organizations = ORGANIZATION.findall(result.stdout)
    assert [(name, slug, url) for name, slug, url, _token in organizations] == [
        ("Demo customer", "demo", "http://127.0.0.1:8000/scim/v2/"),
        ("Globex", "globex", "http://127.0.0.1:8000/scim/v2/"),
    ]
    assert organizations[0][3] == token
    assert authenticates(db_file, organizations[1][3]) == "globex"
    password = re.search(r"user admin, password (\S+) \(shown once\)", result.stdout)
    assert password and password.group(1) != "admin"


def test_the_printed_token_provisions_over_the_example_projects_scim(db_file: Path) -> None:
    """What the README's first command promises: the token works against /scim/v2/."""
    token = TOKEN_LINE.search(manage(db_file, "demo_setup").stdout).group(1)  # type: ignore[union-attr]
    code = (
        "import json\n"
        "from django.test import Client\n"
        f"c = Client(HTTP_AUTHORIZATION='Bearer {token}')\n"
        "body = {'schemas': ['urn:ietf:params:scim:schemas:core:2.0:User'],"
        " 'userName': 'alice@example.com'}\n"
        "r = c.post('/scim/v2/Users', json.dumps(body), content_type='application/scim+json',"
        " HTTP_HOST='127.0.0.1')\n"
        "l = c.get('/scim/v2/Users', HTTP_HOST='127.0.0.1').json()\n"
        "print('RESULT', r.status_code, l['totalResults'], l['Resources'][0]['userName'])\n"
    )
    result = manage(db_file, "shell", "-c", code)
    assert result.returncode == 0, result.stderr
    assert "RESULT 201 1 alice@example.com" in result.stdout


def test_demo_setup_runs_again_on_the_same_database(db_file: Path) -> None:
    first = manage(db_file, "demo_setup", "--port", "8123")
    second = manage(db_file, "demo_setup", "--port", "8123")

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "http://127.0.0.1:8123/scim/v2/" in second.stdout
    assert "user admin exists" in second.stdout
    tokens = [TOKEN_LINE.search(r.stdout).group(1) for r in (first, second)]  # type: ignore[union-attr]
    assert tokens[0] != tokens[1]
    # Each start revokes the tokens the previous one printed.
    assert [authenticates(db_file, t) for t in tokens] == ["", "demo"]
    assert "SCIM tokens issued by earlier runs: 2 revoked" in second.stdout


def test_create_scim_token_prints_the_token_alone_on_its_last_line(db_file: Path) -> None:
    # --skip-checks: this is about the command's output; the URLconf has its own test below.
    assert manage(db_file, "migrate", "--no-input", "-v", "0", "--skip-checks").returncode == 0

    result = manage(db_file, "create_scim_token", "demo", "--skip-checks")

    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert authenticates(db_file, token) == "demo"


def test_example_project_passes_system_checks(db_file: Path) -> None:
    """`runserver` refuses to start on errors: the URLconf (SCIM, SSO, admin) must load."""
    result = manage(db_file, "check", "--fail-level", "ERROR")

    assert result.returncode == 0, result.stderr


def test_the_example_projects_own_tests_pass(tmp_path: Path) -> None:
    """The example's organizations and adapter, tested under the example's own settings.

    In a subprocess: the package's test settings do not install the example's app, and the
    example's adapter is meant to run as its settings configure it.
    """
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)  # pytest-django set tests.settings
    env["EXAMPLE_PROJECT_DB"] = str(tmp_path / "example.sqlite3")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(ROOT / "example_project" / "demo" / "tests.py"),
            str(ROOT / "example_project" / "devidp" / "tests.py"),
            "--ds=example_project.settings",
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(r"^\d+ passed in ", summary), summary  # nothing failed, skipped or errored
