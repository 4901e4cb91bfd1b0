"""SCIM 2.0 conformance: run scim2-tester against the example project over real HTTP.

Starts ``example_project`` (``runserver --noreload``) on a free localhost port with a fresh
SQLite database, issues a SCIM token with ``manage.py create_scim_token demo``, runs
``scim2_tester.check_server`` with an httpx2 client against ``/scim/v2/``, and prints every
check with its status. Exits 1 if a check about discovery (ServiceProviderConfig, ResourceTypes,
Schemas, unknown URLs) or about the User or Group resource ends in ERROR or CRITICAL (but for
the accepted deviations listed below), or if no User or no Group check ran at all.

    tox -e scim-tester                       # what CI runs
    python .ci/scim_conformance.py --json results.json
    python .ci/scim_conformance.py --base-url http://127.0.0.1:8000/scim/v2/ --token scim_...

The checkout is put first on PYTHONPATH, so the code under test is the one in this tree.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MANAGE = ROOT / "example_project" / "manage.py"
GATING_RESOURCE_TYPES = {None, "User", "Group"}


def project_env(db: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "example_project.settings"
    env["EXAMPLE_PROJECT_DB"] = str(db)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(  # noqa: S603  (our own manage.py, fixed arguments)
        [sys.executable, str(MANAGE), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"manage.py {' '.join(args)} failed with exit code {result.returncode}")
    return result.stdout


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def example_server(workdir: Path) -> Iterator[tuple[str, str]]:
    """Yield (base URL, token) of a freshly migrated example project served on localhost."""
    db = workdir / "conformance.sqlite3"
    env = project_env(db)
    manage(env, "migrate", "--no-input", "-v", "0")
    token = manage(env, "create_scim_token", "demo", "--name", "scim2-tester").splitlines()[-1]
    port = free_port()
    log_path = workdir / "runserver.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(  # noqa: S603
            [sys.executable, str(MANAGE), "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                sys.stderr.write(log_path.read_text())
                raise SystemExit(f"runserver exited with code {server.returncode}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("runserver did not listen within 60 seconds") from None
                time.sleep(0.2)
        print(f"example project serving on http://127.0.0.1:{port}/ (log: {log_path})")
        yield f"http://127.0.0.1:{port}/scim/v2/", token
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if os.environ.get("CI"):
            # Server-side tracebacks belong in the CI log when a check failed.
            sys.stdout.write("---- runserver log (tail) ----\n")
            sys.stdout.write("".join(log_path.read_text().splitlines(True)[-60:]))
            sys.stdout.write("---- end of runserver log ----\n")


def run_checks(base_url: str, token: str) -> list[Any]:
    from httpx2 import Client
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import check_server

    http = Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    with http:
        return list(check_server(SyncSCIMClient(http), raise_exceptions=False))


# Answers that differ from the checker on purpose; each is explained in docs/conformance.rst.
# Matched on the exact reason text, so any other failure of the same check still gates.
ACCEPTED_DEVIATIONS: dict[tuple[str, str], str] = {
    ("User", "did not remove attribute 'active'"): (
        "'active' mirrors the account's is_active and is always returned; RFC 7643 §4.1.1 "
        "leaves its meaning to the service provider, and here an absent 'active' means active"
    ),
}


def accepted_deviation(result: Any) -> str | None:
    for (resource_type, needle), why in ACCEPTED_DEVIATIONS.items():
        if result.resource_type == resource_type and needle in str(result.reason or ""):
            return why
    return None


def is_gating(result: Any) -> bool:
    return result.resource_type in GATING_RESOURCE_TYPES and accepted_deviation(result) is None


def report(results: list[Any], json_path: str | None) -> int:
    from scim2_tester import Status

    failing = {Status.ERROR, Status.CRITICAL}
    width = max((len(r.status.name) for r in results), default=7)
    for r in results:
        scope = r.resource_type or "-"
        why = accepted_deviation(r)
        gate = f"  (accepted deviation: {why})" if why else "" if is_gating(r) else "  (not gating)"
        reason = " ".join(str(r.reason or "").split())
        if r.status not in failing and len(reason) > 100:
            reason = reason[:97] + "..."
        print(
            f"{r.status.name:<{width}}  {scope:<6}  {r.title}{gate}"
            + (f": {reason}" if reason else "")
        )
    counts = Counter(r.status.name for r in results)
    blocking = [r for r in results if r.status in failing and is_gating(r)]
    user_checks = [r for r in results if r.resource_type == "User"]
    group_checks = [r for r in results if r.resource_type == "Group"]
    if json_path:
        rows = [
            {
                "status": r.status.name,
                "resource_type": r.resource_type,
                "title": r.title,
                "reason": r.reason,
                "tags": sorted(r.tags),
            }
            for r in results
        ]
        Path(json_path).write_text(json.dumps(rows, indent=2) + "\n")
    summary = ", ".join(f"{n} {name.lower()}" for name, n in sorted(counts.items()))
    print(
        f"\nscim2-tester: {len(results)} checks ({summary or 'none'}); "
        f"{len(user_checks)} about User, {len(group_checks)} about Group; "
        f"{len(blocking)} gating failure(s)"
    )
    for name, checks in (("User", user_checks), ("Group", group_checks)):
        if not checks:
            print(f"FAIL: no check about the {name} resource ran (is /ResourceTypes serving it?)")
            return 1
    if blocking:
        print("FAIL: discovery, User or Group checks failed (see ERROR/CRITICAL lines above)")
        return 1
    print("OK: every discovery, User and Group check passed")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="Check this running server instead of starting one.")
    parser.add_argument("--token", help="Bearer token for --base-url.")
    parser.add_argument("--json", dest="json_path", help="Also write the results to this file.")
    args = parser.parse_args(argv)

    if args.base_url:
        if not args.token:
            parser.error("--base-url needs --token")
        return report(run_checks(args.base_url, args.token), args.json_path)
    with tempfile.TemporaryDirectory(prefix="scim-conformance-") as tmp:
        with example_server(Path(tmp)) as (base_url, token):
            results = run_checks(base_url, token)
        return report(results, args.json_path)


if __name__ == "__main__":
    sys.exit(main())
