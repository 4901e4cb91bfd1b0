"""The demo in a real browser, as a newcomer tries it after ``tox -e demo``.

The demo runs as tox runs it (:mod:`tests.demo_server`: ``demo_setup``, then ``runserver``, on
a free port). Headless Chromium opens the sign-in page, enters a work e-mail of each
organization, signs in at the development IdP with a person and groups, and lands on the
dashboard with the right user, organization and groups. That user is then deactivated over
SCIM (with the token ``demo_setup`` printed): the next page load is signed out. Reactivated,
they sign in again. Each step leaves a screenshot in a temporary folder (printed); any
browser console error fails the test.

Needs Debian's ``chromium`` and ``chromium-driver``: skipped with the reason without them,
failed in CI (``tests/tools.py``).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

import pytest

from .demo_server import DemoServer
from .tools import headless_chromium, require

pytestmark = pytest.mark.browser

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    require("chromium", "chromium")  # before starting anything
    server = DemoServer(tmp_path_factory.mktemp("demo"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Browser:
    """Chromium with a screenshot per step and a console that must stay free of errors."""

    def __init__(self, driver: Any, origin: str, shots: Path) -> None:
        self.driver = driver
        self.origin = origin
        self.shots = shots
        self.step = 0

    def open(self, path: str) -> None:
        self.driver.get(self.origin + path)

    def shot(self, name: str) -> None:
        self.step += 1
        self.driver.save_screenshot(str(self.shots / f"{self.step:02d}-{name}.png"))
        self.assert_no_console_errors(name)

    def assert_no_console_errors(self, step: str) -> None:
        errors = [
            entry for entry in self.driver.get_log("browser") if entry.get("level") == "SEVERE"
        ]
        assert not errors, f"console errors at {step}: {errors}"

    def path(self) -> str:
        return urlparse(self.driver.current_url).path

    def wait_for_path(self, path: str) -> None:
        WebDriverWait(self.driver, 20).until(lambda d: urlparse(d.current_url).path == path)

    def text(self, element_id: str) -> str:
        return str(self.driver.find_element(By.ID, element_id).text)

    def sign_in(self, email: str, person: str, groups: list[str]) -> None:
        self.open("/signin/")
        self.driver.find_element(By.ID, "email").send_keys(email)
        self.shot(f"sign-in-{email}")
        self.driver.find_element(By.ID, "continue").click()
        WebDriverWait(self.driver, 20).until(
            lambda d: urlparse(d.current_url).path.startswith("/devidp/")
        )
        self.driver.find_element(By.CSS_SELECTOR, f"input[name=email][value='{person}']").click()
        for group in groups:
            self.driver.find_element(
                By.CSS_SELECTOR, f"input[name=groups][value='{group}']"
            ).click()
        self.shot(f"idp-{person}")
        self.driver.find_element(By.ID, "devidp-sign-in").click()
        self.wait_for_path("/dashboard/")


@pytest.fixture
def browser(demo: DemoServer, tmp_path: Path) -> Iterator[Browser]:
    driver = headless_chromium("--window-size=1200,900", console_log=True)
    # pytest keeps the last three runs' tmp_path (a temporary directory of each run's own
    # would pile up in /tmp, one per run)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"screenshots: {shots}")  # pytest -s shows where they are
    try:
        yield Browser(driver, demo.origin, shots)
    finally:
        driver.quit()


def scim(demo: DemoServer, slug: str, method: str, path: str, body: Any = None) -> Any:
    """A SCIM request to the running demo with organization *slug*'s token."""
    request = urllib.request.Request(
        f"{demo.origin}/scim/v2/{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Authorization": f"Bearer {demo.tokens()[slug]}",
            "Content-Type": "application/scim+json",
        },
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def set_active(demo: DemoServer, slug: str, user_name: str, active: bool) -> None:
    query = quote(f'userName eq "{user_name}"')
    found = scim(demo, slug, "GET", f"Users?filter={query}")
    assert found["totalResults"] == 1, found
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": active}],
    }
    assert (
        scim(demo, slug, "PATCH", f"Users/{found['Resources'][0]['id']}", patch)["active"] is active
    )


@pytest.mark.parametrize(
    ("slug", "email", "groups", "organization", "shown_groups"),
    [
        ("demo", "alice@example.com", ["Engineering"], "Demo customer", "demo: Engineering"),
        (
            "globex",
            "carol@globex.example",
            ["Engineering", "Admins"],
            "Globex",
            "globex: Admins, globex: Engineering",
        ),
    ],
)
def test_sign_in_deactivate_reactivate(
    demo: DemoServer,
    browser: Browser,
    slug: str,
    email: str,
    groups: list[str],
    organization: str,
    shown_groups: str,
) -> None:
    browser.open("/")
    browser.shot("home")

    browser.sign_in(email, email, groups)

    browser.shot(f"dashboard-{email}")
    assert browser.text("username") == email
    assert browser.text("organization") == organization
    assert browser.text("groups") == shown_groups

    set_active(demo, slug, email, False)
    browser.open("/dashboard/")
    browser.wait_for_path("/signin/")  # signed out: the login page of the dashboard
    browser.shot(f"deactivated-{email}")

    set_active(demo, slug, email, True)
    browser.sign_in(email, email, [])
    browser.shot(f"signed-in-again-{email}")
    assert browser.text("username") == email
    assert browser.text("organization") == organization
    assert browser.text("groups") == "none"  # the IdP sent none this time

    browser.driver.find_element(By.ID, "sign-out").click()  # single logout through the IdP
    browser.wait_for_path("/")
    browser.shot(f"signed-out-{email}")
    assert "Not signed in." in browser.text("who")
