"""The demo as ``tox -e demo`` runs it, for the tests: tox.ini's own commands, in subprocesses.

:func:`tox_env` reads an env of ``tox.ini`` (its commands and ``set_env``), so the tests run
what tox would run, not a copy of it; :class:`DemoServer` runs the ``demo`` env's commands
(``demo_setup``, then ``runserver``) against a SQLite file and a dev-IdP key folder in a
temporary folder, on a free port, with this source tree first on the path.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

ROOT = Path(__file__).resolve().parent.parent
TOKEN = re.compile(
    r"Organization:\s+(?P<name>.+?) \(connection (?P<slug>\S+), .*?\)\n"
    r"\s+SCIM base URL:\s+(?P<url>\S+)\n\s+Bearer token:\s+(?P<token>scim_\S+)"
)


@dataclass(frozen=True)
class ToxEnv:
    commands: list[list[str]]
    set_env: dict[str, str]
    raw: dict[str, str]


def tox_env(name: str) -> ToxEnv:
    """The ``[testenv:name]`` section of tox.ini: its commands (split) and ``set_env``."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tox.ini")
    section = dict(parser[f"testenv:{name}"])
    set_env = {}
    for line in section.get("set_env", "").splitlines():
        line = line.strip()
        if line.startswith("{[testenv:") and line.endswith("]set_env}"):
            set_env.update(tox_env(line[len("{[testenv:") : -len("]set_env}")]).set_env)
        elif "=" in line:
            key, _sep, value = line.partition("=")
            set_env[key.strip()] = value.strip()
    commands = [
        shlex.split(line) for line in section.get("commands", "").splitlines() if line.strip()
    ]
    return ToxEnv(commands, set_env, section)


def expand(argv: list[str], posargs: list[str], port: int) -> list[str]:
    """A tox command line with ``{posargs}`` and ``{env:DEMO_PORT:...}`` filled in."""
    out: list[str] = []
    for arg in argv:
        if arg.startswith("{posargs"):
            out.extend(posargs)
            continue
        arg = re.sub(r"\{env:DEMO_PORT:\d+\}", str(port), arg)
        out.append(sys.executable if arg == "python" else arg)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DemoServer:
    """``tox -e demo`` in a temporary folder: ``start()``, then ``stop()``."""

    folder: Path
    port: int = field(default_factory=free_port)
    setup_output: str = ""
    process: subprocess.Popen[bytes] | None = None
    log: BinaryIO | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environ(self, env_name: str = "demo") -> dict[str, str]:
        """What tox gives the env's commands: its set_env, not the suite's settings."""
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env.update(tox_env(env_name).set_env)
        env["DEMO_PORT"] = str(self.port)
        env["EXAMPLE_PROJECT_DB"] = str(self.folder / "demo.sqlite3")
        env["DEVIDP_KEY_DIR"] = str(self.folder / "devidp-keys")
        # The package under test is this checkout (tox would install it as a wheel).
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        return env

    def run(self, argv: list[str], *, env_name: str = "manage", cwd: Path = ROOT) -> str:
        result = subprocess.run(
            argv,
            env=self.environ(env_name),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, f"{argv}: {result.stdout}\n{result.stderr}"
        return result.stdout

    def start(self) -> None:
        setup, serve = (expand(c, [], self.port) for c in tox_env("demo").commands)
        self.setup_output = self.run(setup, env_name="demo")
        self.log = open(self.folder / "runserver.log", "wb")
        self.process = subprocess.Popen(
            serve,
            env=self.environ("demo"),
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its autoreloader's child too is stopped with the group
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"runserver exited: {self.server_log()}")
            try:
                urllib.request.urlopen(f"{self.origin}/signin/", timeout=2).close()
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise AssertionError(f"runserver did not answer: {self.server_log()}")

    def server_log(self) -> str:
        return (self.folder / "runserver.log").read_text(errors="replace")

    def tokens(self) -> dict[str, str]:
        """Connection slug -> the SCIM token ``demo_setup`` printed for it."""
        return {m["slug"]: m["token"] for m in TOKEN.finditer(self.setup_output)}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.log is not None:
            self.log.close()
