"""The example project served over real HTTP: for real concurrency, or a process to kill.

``ExampleServer`` runs ``example_project/manage.py runserver --noreload`` (threaded: one thread,
hence one database connection, per request) on a free localhost port, with this source tree
first on ``PYTHONPATH`` so the code under test is the one checked out. ``scim_call`` speaks SCIM
to it with the standard library only, so these tests need no HTTP client package.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MANAGE = ROOT / "example_project" / "manage.py"
SCIM_JSON = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def project_env(
    settings_module: str = "example_project.settings",
    *,
    db: Path | None = None,
    extra_path: Path | None = None,
) -> dict[str, str]:
    """The environment of a ``manage.py`` subprocess of the example project."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = settings_module  # pytest-django set tests.settings
    if db is not None:
        env["EXAMPLE_PROJECT_DB"] = str(db)
    paths = [str(extra_path) if extra_path else "", str(ROOT), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def manage(env: dict[str, str], *args: str) -> str:
    """Run a ``manage.py`` command of the example project; its stdout, or an assertion error."""
    result = subprocess.run(
        [sys.executable, str(MANAGE), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def issue_token(env: dict[str, str]) -> str:
    """Migrate the project's database and issue a SCIM token for its ``demo`` connection."""
    manage(env, "migrate", "--no-input", "-v", "0")
    return manage(env, "create_scim_token", "demo", "--name", "tests").strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ExampleServer:
    """``runserver --noreload`` of the example project on a free port, as one killable process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/scim/v2/"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ExampleServer:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(MANAGE), "runserver", f"127.0.0.1:{self.port}", "--noreload"],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 120  # a bound on a hang, not a timed assertion
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"runserver exited:\n{self.log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    output = self.log.read_text()
                    raise AssertionError(f"runserver never listened:\n{output}") from None
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no handler runs, no response is finished, no transaction is committed."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ExampleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def scim_call(
    base_url: str, token: str, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    """One SCIM request; (status, JSON body).

    Raises ``OSError`` when no whole answer arrived: the connection failed, or it closed in the
    middle of the answer (a killed server can send the status line and half a body). Such a
    write is unanswered, not acknowledged.
    """
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base_url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": SCIM_JSON},
    )
    try:
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
    except http.client.HTTPException as exc:  # IncompleteRead, a garbled status line
        raise ConnectionResetError(f"no whole answer: {exc!r}") from exc
    if status in (204, 304):
        return status, {}
    try:
        return status, json.loads(raw)
    except ValueError:  # empty or cut short
        if status < 300:
            raise ConnectionResetError(f"a cut-off {status} answer: {raw[:200]!r}") from None
        return status, {"raw": raw[:500].decode("utf-8", "replace")}


def user_body(user_name: str, given: str, family: str) -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "active": True,
    }


def patch_given_name(given: str) -> dict[str, Any]:
    return {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "replace", "path": "name.givenName", "value": given}],
    }
