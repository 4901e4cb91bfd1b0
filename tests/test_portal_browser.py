"""The setup portal in a real browser, as a customer's IT admin uses it, checked with axe-core.

The demo runs as tox runs it (:mod:`tests.demo_server`). ``create_setup_link globex`` prints a
link; headless Chromium opens it, chooses Okta, gives the development IdP's metadata URL (the
example project's ``METADATA_FETCH_ALLOWED_HOSTS`` lets 127.0.0.1 through, with ``DEBUG`` on),
runs the test sign-in at the development IdP, sees the mapped attributes, and issues the SCIM
token. A second browser (another driver, another profile) opening the same link is refused.

Every page is checked with axe-core (installed with npm into a cache folder): any WCAG 2.0/2.1
level A or AA violation fails the test, as does any browser console error. Screenshots go to
a temporary folder (printed). Needs Debian's ``chromium``, ``chromium-driver`` and ``npm``:
skipped with the reason without them, failed in CI (``tests/tools.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from .demo_server import DemoServer
from .tools import headless_chromium, require

pytestmark = pytest.mark.browser

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

AXE_VERSION = "4"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe.min.js, installed once with npm into a cache folder (AXE_CACHE_DIR to choose it)."""
    npm = require("npm", "npm")
    cache = Path(os.environ.get("AXE_CACHE_DIR") or Path(tempfile.gettempdir()) / "dp-axe-cache")
    script = cache / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        result = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(cache),
                f"axe-core@{AXE_VERSION}",
                "--no-audit",
                "--no-fund",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0 or not script.exists():
            message = f"npm could not install axe-core: {result.stderr[-500:]}"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
    return script.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    require("chromium", "chromium")  # before starting anything
    require("chromedriver", "chromium-driver")
    server = DemoServer(tmp_path_factory.mktemp("portal-demo"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Browser:
    """Chromium with a screenshot and an axe check per page, and an error-free console."""

    def __init__(self, driver: Any, origin: str, shots: Path, axe: str, name: str) -> None:
        self.driver = driver
        self.origin = origin
        self.shots = shots
        self.axe = axe
        self.name = name
        self.step = 0

    def path(self) -> str:
        return urlparse(self.driver.current_url).path

    def click(self, element_id: str) -> None:
        self.driver.find_element(By.ID, element_id).click()

    def wait_for(self, condition: Callable[[Any], bool]) -> None:
        try:
            WebDriverWait(self.driver, 30).until(condition)
        except TimeoutException:
            self.driver.save_screenshot(str(self.shots / f"{self.name}-timeout.png"))
            text = self.driver.find_element(By.TAG_NAME, "body").text
            raise AssertionError(f"timed out at {self.driver.current_url}: {text[:2000]}") from None

    def check(self, name: str) -> None:
        """Screenshot, then no console error and no axe violation on this page."""
        self.step += 1
        self.driver.save_screenshot(str(self.shots / f"{self.name}-{self.step:02d}-{name}.png"))
        errors = [e for e in self.driver.get_log("browser") if e.get("level") == "SEVERE"]
        assert not errors, f"console errors at {name}: {errors}"
        self.driver.execute_script(self.axe)
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}})"
            ".then(r => done(JSON.stringify(r.violations)), e => done(JSON.stringify("
            "[{id: 'axe-error', help: String(e)}])));",
            AXE_TAGS,
        )
        violations = json.loads(result)
        summary = [
            f"{v['id']}: {v.get('help')} ({[n.get('target') for n in v.get('nodes', [])]})"
            for v in violations
        ]
        assert not violations, f"axe violations at {name}: {summary}"


def make_driver(profile: Path) -> Any:
    # its own profile: its own cookies
    driver = headless_chromium(
        "--window-size=1200,900",
        f"--user-data-dir={profile}",
        console_log=True,
    )
    driver.set_script_timeout(30)
    return driver


@pytest.fixture
def browsers(
    demo: DemoServer, axe_source: str, tmp_path: Path
) -> Iterator[Callable[[str], Browser]]:
    # Under pytest's tmp_path (kept for the last three runs), not a new /tmp directory per run.
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"screenshots: {shots}")  # pytest -s shows where they are
    drivers: list[Any] = []

    def open_browser(name: str) -> Browser:
        driver = make_driver(tmp_path / f"profile-{len(drivers)}")
        drivers.append(driver)
        return Browser(driver, demo.origin, shots, axe_source, name)

    try:
        yield open_browser
    finally:
        for driver in drivers:
            driver.quit()


def setup_link(demo: DemoServer, slug: str) -> str:
    """``tox -e manage -- create_setup_link SLUG``: the URL is its last line."""
    argv = [sys.executable, "example_project/manage.py", "create_setup_link", slug]
    return demo.run(argv).strip().splitlines()[-1]


def test_it_admin_sets_up_okta_alone(demo: DemoServer, browsers: Any) -> None:
    url = setup_link(demo, "globex")
    assert url.startswith(f"{demo.origin}/setup/setup_")
    admin = browsers("admin")
    driver = admin.driver

    driver.get(url)
    admin.wait_for(lambda d: d.find_elements(By.ID, "continue-setup"))
    admin.check("open-link")
    admin.click("continue-setup")
    admin.wait_for(lambda d: urlparse(d.current_url).path.startswith("/setup/s/"))
    assert "setup_" not in driver.current_url  # the secret left the address bar
    admin.check("choose-idp")

    admin.click("vendor-okta")
    admin.wait_for(lambda d: d.find_elements(By.ID, "metadata-url-form"))
    assert "Audience URI (SP Entity ID)" in driver.page_source
    assert "Single sign-on URL" in driver.page_source
    admin.check("okta-steps")

    driver.find_element(By.ID, "id_url").send_keys(f"{demo.origin}/devidp/globex/metadata/")
    admin.click("submit-url")
    admin.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, "#start-test, #metadata-errors"))
    errors = driver.find_elements(By.ID, "metadata-errors")
    assert not errors, errors[0].text
    admin.check("test-sign-in")

    admin.click("start-test")
    admin.wait_for(lambda d: urlparse(d.current_url).path.startswith("/devidp/"))
    driver.find_element(By.CSS_SELECTOR, "input[name=email]").click()
    driver.find_element(By.CSS_SELECTOR, "input[name=groups]").click()
    driver.find_element(By.ID, "devidp-sign-in").click()
    admin.wait_for(lambda d: d.find_elements(By.ID, "test-result"))
    result = driver.find_element(By.ID, "test-result").text
    assert "The test sign-in worked" in result, result
    fields = driver.find_element(By.ID, "test-fields").text
    assert "@globex.example" in fields, fields
    assert driver.find_element(By.ID, "test-groups-joined").text != "(none)"
    admin.check("test-result")

    driver.get(driver.current_url.replace("/test/", "/scim/"))
    admin.wait_for(lambda d: d.find_elements(By.ID, "issue-token"))
    admin.check("scim")
    admin.click("issue-token")
    admin.wait_for(lambda d: d.find_elements(By.ID, "scim-token"))
    assert driver.find_element(By.ID, "scim-token").text.startswith("scim_")
    admin.check("scim-token")

    intruder = browsers("second-browser")
    intruder.driver.get(url)
    intruder.wait_for(lambda d: "already in use" in d.page_source)
    assert "ask for a new one" in intruder.driver.page_source
    intruder.driver.get_log("browser")  # the 403 itself is logged as a failed resource load
    intruder.check("refused")
