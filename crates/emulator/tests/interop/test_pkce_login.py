"""``ssoflow login`` with the authorization code and PKCE against the emulator
binary, with code we did not write on the other side: headless Chromium as
the person (it opens the authorization URL, clicks Allow or Deny, and is
redirected to ssoflow's loopback listener), and botocore's own
``SSOTokenProvider`` loading and refreshing the token such a login wrote.

Writes the time from the click on Allow to the token file on disk (ten
sign-ins) to <output>/pkce-allow-to-token.txt.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator
from urllib.parse import urlsplit

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from test_browser import PAGE_TIMEOUT_S, browser, page_left, screenshot, wait_for  # noqa: F401 (fixtures)
from test_cli_cache import TOKEN_FILE, Home, ssoflow_binary

if TYPE_CHECKING:
    from conftest import Emulator

SIGN_INS_TIMED = 10
LOGIN_TIMEOUT_S = 60


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[["Emulator"], Home]:
    return lambda emulator: Home(tmp_path / "home", emulator, monkeypatch)


class Login:
    """``ssoflow login --sso-session it --no-browser --output json`` in the
    background; the authorization URL and redirect URI it hands out."""

    def __init__(self, world: Home, *extra: str) -> None:
        self.process = subprocess.Popen(
            [str(ssoflow_binary()), "login", "--sso-session", "it", "--no-browser",
             "--output", "json", *extra],
            env={
                "HOME": str(world.root),
                "PATH": os.environ.get("PATH", ""),
                "AWS_CONFIG_FILE": str(world.config),
                "AWS_ENDPOINT_URL_SSO_OIDC": world.emulator.base_url,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: list[dict] = []
        prompt = self.wait_for_event("authorization_url")
        self.url: str = prompt["url"]
        self.redirect_uri: str = prompt["redirectUri"]

    def wait_for_event(self, kind: str) -> dict:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            event = json.loads(line)
            self.events.append(event)
            if event["event"] == kind:
                return event
        pytest.fail(f"ssoflow login ended without a {kind} event: {self.events}; "
                    f"stderr: {self.process.stderr.read() if self.process.stderr else ''}")

    def finish(self) -> tuple[int, list[dict], str]:
        out, err = self.process.communicate(timeout=LOGIN_TIMEOUT_S)
        self.events.extend(json.loads(line) for line in out.splitlines())
        return self.process.returncode, self.events, err


def get(url: str) -> tuple[int, str | None, str]:
    """One GET without following redirects: status, Location, body."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()
    return response.status, response.getheader("Location"), body


def outcome(browser: WebDriver) -> str:
    return wait_for(browser, "result").get_attribute("data-outcome")


def allow(browser: WebDriver, login: Login, screenshot: Callable[[str], Path] | None) -> None:
    """Opens the URL, checks the consent page, clicks Allow and waits for the listener's page."""
    browser.get(login.url)
    client = wait_for(browser, "client")
    assert client.text == "ssoflow"
    assert "sso:account:access" in browser.find_element(By.ID, "scopes").text
    if screenshot:
        screenshot("consent")
    old_page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.ID, "allow").click()
    WebDriverWait(browser, PAGE_TIMEOUT_S).until(page_left(old_page))


def test_allow_in_chromium_finishes_ssoflow_login(
    browser: WebDriver, start_emulator, home, screenshot: Callable[[str], Path], output_dir: Path
) -> None:
    emulator = start_emulator()
    world = home(emulator)
    token_path = world.cache_dir / TOKEN_FILE
    timings: list[float] = []
    for attempt in range(SIGN_INS_TIMED):
        login = Login(world, "--force")
        if token_path.exists():
            token_path.unlink()
        browser.get(login.url)
        wait_for(browser, "allow")
        if attempt == 0:
            screenshot("consent")
        clicked = time.monotonic()
        browser.find_element(By.ID, "allow").click()
        while not token_path.exists():
            assert time.monotonic() - clicked < LOGIN_TIMEOUT_S, "no token file"
            time.sleep(0.002)
        timings.append(time.monotonic() - clicked)
        assert outcome(browser) == "accepted"
        assert browser.current_url.startswith(login.redirect_uri)
        if attempt == 0:
            screenshot("listener-page")
        code, events, err = login.finish()
        assert code == 0, err
        assert events[-1]["event"] == "signed_in", events
    assert world.token_file()["accessToken"]
    registration = [p for p in world.cache_dir.glob("*.json") if p.name != TOKEN_FILE]
    assert len(registration) == 1
    assert json.loads(registration[0].read_text())["grantTypes"] == [
        "authorization_code", "refresh_token"
    ]
    report = (
        f"Allow -> token file on disk, {SIGN_INS_TIMED} sign-ins in headless Chromium: "
        f"median {statistics.median(timings) * 1000:.1f} ms, "
        f"min {min(timings) * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms\n"
    )
    (output_dir / "pkce-allow-to-token.txt").write_text(report)
    print(report)


def test_deny_in_chromium_ends_ssoflow_login(
    browser: WebDriver, start_emulator, home, screenshot: Callable[[str], Path]
) -> None:
    world = home(start_emulator())
    login = Login(world)
    browser.get(login.url)
    wait_for(browser, "deny")
    old_page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.ID, "deny").click()
    WebDriverWait(browser, PAGE_TIMEOUT_S).until(page_left(old_page))
    assert outcome(browser) == "denied"
    screenshot("denied")
    code, events, err = login.finish()
    assert code == 3, err
    assert "denied" in err
    assert not (world.cache_dir / TOKEN_FILE).exists()


def test_a_forged_callback_is_refused_and_the_real_one_completes(
    browser: WebDriver, start_emulator, home, screenshot: Callable[[str], Path]
) -> None:
    world = home(start_emulator())
    login = Login(world)
    # Another page (or process) sends the listener a code with a state of its own.
    browser.get(f"{login.redirect_uri}?code=stolen&state=00000000-0000-4000-8000-000000000000")
    assert outcome(browser) == "refused"
    screenshot("forged")
    refused = login.wait_for_event("callback_refused")
    assert "state" in refused["reason"]
    allow(browser, login, None)
    assert outcome(browser) == "accepted"
    code, events, err = login.finish()
    assert code == 0, err
    assert events[-1]["event"] == "signed_in"


def test_botocore_loads_and_refreshes_a_token_from_a_pkce_login(start_emulator, home) -> None:
    # Four-minute tokens: botocore refreshes within 15 minutes of expiry.
    emulator = start_emulator("--auto-approve", "--token-ttl", "4m")
    world = home(emulator)
    login = Login(world)
    status, location, _ = get(login.url)
    assert status == 302 and location is not None
    status, _, page = get(location)
    assert status == 200, page
    code, _, err = login.finish()
    assert code == 0, err
    written = world.token_file()
    tokens_before = emulator.counters()["createToken"]
    refreshed = world.botocore_token()
    assert refreshed != written["accessToken"]
    assert emulator.counters()["createToken"] == tokens_before + 1
    assert world.token_file()["accessToken"] == refreshed
    # And ssoflow reads what botocore wrote back (and, 4-minute tokens being
    # inside its 5-minute margin, refreshes it with botocore's refresh token).
    printed = world.ssoflow("token", "--profile", "dev").stdout.strip()
    assert printed == world.token_file()["accessToken"]
    assert emulator.counters()["createToken"] == tokens_before + 2
