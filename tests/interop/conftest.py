"""Each identity provider's documented SCIM request sequence, replayed against the example project.

One ``runserver`` of ``example_project`` per module (its own SQLite file), with a fresh SCIM token
for its ``demo`` connection: the requests travel over real HTTP, through the example project's
settings, URLconf and adapter, as an identity provider's would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from ..servers import ExampleServer, issue_token, project_env, scim_call


@dataclass
class Idp:
    """The identity provider's side: sends a request, gets (status, JSON body)."""

    base_url: str
    token: str

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        return scim_call(self.base_url, self.token, method, path, body)

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        return self.call("GET", path)

    def filter(self, expression: str, **params: Any) -> tuple[int, dict[str, Any]]:
        query = "&".join([f"filter={quote(expression)}", *(f"{k}={v}" for k, v in params.items())])
        return self.get(f"Users?{query}")


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    folder: Path = tmp_path_factory.mktemp("interop")
    env = project_env(db=folder / "example.sqlite3")
    token = issue_token(env)
    with ExampleServer(env, folder / "runserver.log") as server:
        yield Idp(server.base_url, token)
