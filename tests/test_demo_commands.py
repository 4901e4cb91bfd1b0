"""Every ``tox -e manage -- ...`` command the README and docs/ give runs as written, beside a
running demo (``tox -e demo``), and neither env inherits the test suite's settings.

The commands are read from the documents and the envs from ``tox.ini`` (:mod:`tests.demo_server`),
so a changed document or tox.ini is what gets tested; the env's own python is this one.
"""

from __future__ import annotations

import json
import re
import shlex
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .demo_server import ROOT, DemoServer, expand, tox_env

DOCUMENTS = [ROOT / "README.rst", *sorted((ROOT / "docs").glob("*.rst"))]
COMMAND = re.compile(r"tox -e manage -- ([^`\n)]+)")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]+$")  # COMMAND, SLUG, FILE: not a command to run


def documented_commands() -> list[tuple[str, list[str]]]:
    """(document, posargs) of each ``tox -e manage --`` command, in reading order."""
    found = []
    for path in DOCUMENTS:
        for match in COMMAND.finditer(path.read_text()):
            args = shlex.split(match.group(1).strip())
            if args and not any(PLACEHOLDER.match(arg) for arg in args):
                found.append((path.name, args))
    return found


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    server = DemoServer(tmp_path_factory.mktemp("demo"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_neither_env_runs_with_the_test_suites_settings() -> None:
    for name in ("demo", "manage"):
        env = tox_env(name)
        assert "DJANGO_SETTINGS_MODULE" not in env.set_env, name
        assert env.raw.get("set_env"), f"{name} would inherit [testenv]'s set_env"


def test_manage_has_an_env_of_its_own() -> None:
    """A shared env is recreated by whichever runs with a different config: the demo's
    server would restart into a half-installed environment."""
    assert "env_dir" not in tox_env("manage").raw
    assert "env_dir" not in tox_env("demo").raw


def test_the_documents_give_commands_to_test() -> None:
    commands = [args[0] for _doc, args in documented_commands()]

    assert {"import_idp_metadata", "create_scim_token", "demo_admin_password"} <= set(commands)


def test_each_documented_command_runs_beside_the_running_demo(
    demo: DemoServer, tmp_path: Path
) -> None:
    # The IdP metadata file the README's import_idp_metadata line reads: the dev IdP's.
    with urllib.request.urlopen(f"{demo.origin}/devidp/demo/metadata/") as response:
        (tmp_path / "idp-metadata.xml").write_bytes(response.read())
    (command,) = tox_env("manage").commands
    outputs = {}
    for _document, posargs in documented_commands():
        argv = [
            str(ROOT / arg) if arg.endswith("manage.py") else arg
            for arg in expand(command, posargs, demo.port)
        ]
        outputs[" ".join(posargs)] = demo.run(argv, env_name="manage", cwd=tmp_path)

    # The demo still serves, and a token a command printed works against it.
    token = outputs["create_scim_token globex"].strip().splitlines()[-1]
    request = urllib.request.Request(
        f"{demo.origin}/scim/v2/Users", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
        assert json.loads(response.read())["totalResults"] == 0
    assert "New password of admin (shown once): " in outputs["demo_admin_password"]
    assert demo.process is not None and demo.process.poll() is None
    # Logged once, by the package (runserver's own line for it is filtered out).
    log = demo.server_log()
    assert log.count("SCIM GET Users connection=globex status=200") == 1, log
    assert "/scim/v2/Users" not in log, log
