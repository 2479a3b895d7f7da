"""The verification page in headless Chromium, with a botocore client waiting
on the other side as the AWS CLI would.

Uses Debian's Chromium and chromedriver (never a downloaded browser):
    apt-get install -y chromium chromium-driver
Screenshots (PNG, named after the step) go to the output folder, see conftest.py.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from oidc_helpers import oidc_client, register, start, wait_for_token

if TYPE_CHECKING:
    from conftest import Emulator

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CLIENT_NAME = "interop-browser"
SCOPE = "sso:account:access"
PAGE_TIMEOUT_S = 30
TOKEN_TIMEOUT_S = 30
POLLER_LIMIT_S = 180


@pytest.fixture
def browser(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebDriver]:
    """A fresh headless Chromium with its own profile directory."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found: the browser tests need Debian's Chromium and "
            "chromedriver. Install them with `apt-get install -y chromium chromium-driver`.",
            pytrace=False,
        )
    # selenium-manager must never try to download a browser or a driver.
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1000,800",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        service=Service(executable_path=str(CHROMEDRIVER)), options=options
    )
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshot(browser: WebDriver, output_dir: Path, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """``screenshot("consent")`` saves <output>/<test name>-<n>-consent.png."""
    taken = []

    def take(step: str) -> Path:
        taken.append(step)
        path = output_dir / f"{request.node.name}-{len(taken)}-{step}.png"
        assert browser.save_screenshot(str(path)), f"could not save {path}"
        return path

    return take


def wait_for(browser: WebDriver, element_id: str) -> WebElement:
    return WebDriverWait(browser, PAGE_TIMEOUT_S).until(
        expected_conditions.presence_of_element_located((By.ID, element_id))
    )


def navigation_status(browser: WebDriver) -> int | None:
    """The HTTP status of the page now shown (Navigation Timing's responseStatus)."""
    return browser.execute_script(
        "const [nav] = performance.getEntriesByType('navigation');"
        "return nav ? nav.responseStatus : null;"
    )


def page_left(old_page: WebElement) -> Callable[[WebDriver], bool]:
    """A wait condition: the page `old_page` belonged to is gone. Selenium's
    ``staleness_of`` knows only StaleElementReferenceException; Chromium
    sometimes answers for a replaced document with a plain WebDriver error
    ("Node with given id does not belong to the document"), which means the
    same."""

    def gone(_: WebDriver) -> bool:
        try:
            old_page.is_enabled()
            return False
        except WebDriverException:
            return True

    return gone


def click_and_wait(browser: WebDriver, button_id: str, next_id: str) -> WebElement:
    """Clicks a submit button and waits for the next page's element."""
    old_page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.ID, button_id).click()
    WebDriverWait(browser, PAGE_TIMEOUT_S).until(page_left(old_page))
    return wait_for(browser, next_id)


class WaitingClient:
    """A registered botocore client that has started a device authorization
    and polls for its token on a worker thread, as the AWS CLI does while the
    person is at the browser."""

    def __init__(self, emulator: Emulator) -> None:
        self.client = oidc_client(emulator.base_url)
        self.registration = register(self.client, CLIENT_NAME, [SCOPE])
        self.authorization = start(self.client, self.registration)
        self.polls: list[str] = []
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=1)
        # The poller's own limit is generous: a slow browser start on a busy
        # machine must not end it; the test bounds the wait after its click.
        self.token: Future = self._pool.submit(
            wait_for_token,
            self.client,
            self.registration,
            self.authorization,
            POLLER_LIMIT_S,
            self._stop,
            self.polls,
        )

    def result(self) -> dict:
        """The token (or the poller's error) within TOKEN_TIMEOUT_S from now."""
        try:
            return self.token.result(timeout=TOKEN_TIMEOUT_S)
        except FutureTimeout:
            pytest.fail(f"the client got no answer within {TOKEN_TIMEOUT_S} s; polls: {self.polls}")

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True)


@pytest.fixture
def waiting_client(emulator: Emulator) -> Iterator[WaitingClient]:
    waiting = WaitingClient(emulator)
    try:
        yield waiting
    finally:
        waiting.close()


def assert_decided(emulator: Emulator, waiting: WaitingClient) -> None:
    """The click reached the service: the code no longer waits for a decision."""
    user_code = waiting.authorization["userCode"]
    pending = [p["userCode"] for p in emulator.pending()]
    assert user_code not in pending, f"{user_code} still pending after the click: {pending}"


def open_consent_page(
    browser: WebDriver, waiting: WaitingClient, screenshot: Callable[[str], Path]
) -> None:
    """Opens verificationUriComplete, checks the pre-filled code, presses Next
    and checks the consent page names the client, its scope and the code."""
    authorization = waiting.authorization
    browser.get(authorization["verificationUriComplete"])
    code_input = wait_for(browser, "user_code")
    assert code_input.get_attribute("value") == authorization["userCode"]
    assert navigation_status(browser) == 200
    screenshot("code-form")

    client_name = click_and_wait(browser, "next", "client")
    assert client_name.text == CLIENT_NAME
    assert SCOPE in browser.find_element(By.ID, "scopes").text
    assert browser.find_element(By.ID, "code").text == authorization["userCode"]
    assert browser.find_element(By.ID, "allow").is_displayed()
    assert browser.find_element(By.ID, "deny").is_displayed()
    assert navigation_status(browser) == 200
    screenshot("consent")


def test_allow_in_the_browser_signs_the_waiting_client_in(
    browser: WebDriver,
    emulator: Emulator,
    waiting_client: WaitingClient,
    screenshot: Callable[[str], Path],
) -> None:
    open_consent_page(browser, waiting_client, screenshot)

    result = click_and_wait(browser, "allow", "result")
    assert result.get_attribute("data-outcome") == "allowed"
    assert CLIENT_NAME in result.text
    screenshot("allowed")
    assert_decided(emulator, waiting_client)

    token = waiting_client.result()
    assert waiting_client.polls[-1].endswith("token"), waiting_client.polls
    assert token["accessToken"]
    assert token["refreshToken"]
    assert token["tokenType"] == "Bearer"
    assert token["expiresIn"] > 0

    # The same link again: the code is spent.
    browser.get(waiting_client.authorization["verificationUriComplete"])
    result = click_and_wait(browser, "next", "result")
    assert result.get_attribute("data-outcome") == "used"
    assert navigation_status(browser) == 409
    screenshot("used")


def test_deny_in_the_browser_is_access_denied_for_the_client(
    browser: WebDriver,
    emulator: Emulator,
    waiting_client: WaitingClient,
    screenshot: Callable[[str], Path],
) -> None:
    open_consent_page(browser, waiting_client, screenshot)

    result = click_and_wait(browser, "deny", "result")
    assert result.get_attribute("data-outcome") == "denied"
    screenshot("denied")
    assert_decided(emulator, waiting_client)

    client = waiting_client.client
    with pytest.raises(client.exceptions.AccessDeniedException) as excinfo:
        waiting_client.result()
    assert excinfo.value.response["Error"]["Code"] == "AccessDeniedException", waiting_client.polls
    assert waiting_client.polls[-1].endswith("AccessDeniedException"), waiting_client.polls


def test_a_wrong_code_is_reported_on_the_page(
    browser: WebDriver, emulator: Emulator, screenshot: Callable[[str], Path]
) -> None:
    browser.get(f"{emulator.base_url}/device")
    code_input = wait_for(browser, "user_code")
    assert code_input.get_attribute("value") == ""
    code_input.send_keys("WXYZ-WXYZ")
    screenshot("typed")

    message = click_and_wait(browser, "next", "message")
    assert "No sign-in request has the code" in message.text
    assert "WXYZ-WXYZ" in message.text
    assert navigation_status(browser) == 404
    # The form is shown again with the code, ready to be corrected.
    assert browser.find_element(By.ID, "user_code").get_attribute("value") == "WXYZ-WXYZ"
    assert browser.find_elements(By.ID, "result") == []
    screenshot("unknown-code")


def test_a_hostile_client_name_is_shown_as_text(
    browser: WebDriver, emulator: Emulator, screenshot: Callable[[str], Path]
) -> None:
    """Client names and scopes come from whoever registered: the consent page
    must show them literally, never as markup."""
    name = '<img src="x" id="injected" onerror="document.title=\'pwned\'"> & "friends"'
    scope = "<b id=\"bold\">sso:account:access</b>"
    client = oidc_client(emulator.base_url)
    registration = register(client, name, [scope])
    authorization = start(client, registration)

    browser.get(authorization["verificationUriComplete"])
    wait_for(browser, "user_code")
    client_name = click_and_wait(browser, "next", "client")
    assert client_name.text == name
    assert scope in browser.find_element(By.ID, "scopes").text
    assert browser.find_elements(By.ID, "injected") == []
    assert browser.find_elements(By.ID, "bold") == []
    assert "pwned" not in browser.title
    screenshot("hostile-consent")
