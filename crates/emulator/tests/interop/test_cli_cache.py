"""The token cache shared with the real AWS code: botocore's own
``SSOTokenProvider`` loads (and refreshes) the token that ``ssoflow login``
wrote, and ``ssoflow token`` reads and refreshes a file botocore wrote, all
through the emulator binary.

Needs the ssoflow binary: ``cargo build -p ssoflow`` (or SSOFLOW_BIN).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import botocore.session
import pytest
from botocore.tokens import SSOTokenProvider

from conftest import REPO_ROOT

if TYPE_CHECKING:
    from conftest import Emulator

START_URL = "https://d-1234567890.awsapps.com/start"
# The AWS CLI's file name for [sso-session it]: the SHA-1 of the session name.
TOKEN_FILE = hashlib.sha1(b"it").hexdigest() + ".json"


def ssoflow_binary() -> Path:
    configured = os.environ.get("SSOFLOW_BIN")
    binary = Path(configured) if configured else REPO_ROOT / "target" / "debug" / "ssoflow"
    if not binary.is_file():
        pytest.fail(
            f"ssoflow binary not found at {binary}; build it with `cargo build -p ssoflow` "
            "or point SSOFLOW_BIN at it.",
            pytrace=False,
        )
    return binary


class Home:
    """A temporary HOME with [profile dev] -> [sso-session it], pointed at an emulator."""

    def __init__(self, root: Path, emulator: "Emulator", monkeypatch: pytest.MonkeyPatch):
        self.root = root
        self.emulator = emulator
        self.config = root / ".aws" / "config"
        self.config.parent.mkdir(parents=True)
        self.config.write_text(
            "[profile dev]\nsso_session = it\n\n"
            f"[sso-session it]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n"
            "sso_registration_scopes = sso:account:access\n"
        )
        self.cache_dir = root / ".aws" / "sso" / "cache"
        # botocore fixes its cache directory from HOME when it is imported;
        # point it at ours, keeping its own cache class and file format.
        monkeypatch.setattr(SSOTokenProvider, "_SSO_TOKEN_CACHE_DIR", str(self.cache_dir))
        # botocore reads the same variables: one endpoint for both tools.
        monkeypatch.setenv("HOME", str(root))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(self.config))
        monkeypatch.setenv("AWS_ENDPOINT_URL_SSO_OIDC", emulator.base_url)

    def ssoflow(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(ssoflow_binary()), *args],
            env={
                "HOME": str(self.root),
                "PATH": os.environ.get("PATH", ""),
                "AWS_CONFIG_FILE": str(self.config),
                "AWS_ENDPOINT_URL_SSO_OIDC": self.emulator.base_url,
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"ssoflow {' '.join(args)}: {result.stderr}"
        return result

    def token_file(self) -> dict:
        holding_tokens = [p.name for p in self.cache_dir.glob("*.json") if "accessToken" in p.read_text()]
        assert holding_tokens == [TOKEN_FILE], holding_tokens
        return json.loads((self.cache_dir / TOKEN_FILE).read_text())

    def botocore_token(self) -> str:
        """The token botocore's SSOTokenProvider hands to an SDK client."""
        session = botocore.session.Session(profile="dev")
        return SSOTokenProvider(session).load_token().get_frozen_token().token


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[["Emulator"], Home]:
    return lambda emulator: Home(tmp_path / "home", emulator, monkeypatch)


def test_botocore_uses_the_token_ssoflow_login_wrote(start_emulator, home) -> None:
    emulator = start_emulator("--auto-approve")
    world = home(emulator)
    world.ssoflow("login", "--use-device-code", "--sso-session", "it", "--no-browser")
    written = world.token_file()
    assert set(written) == {
        "startUrl", "region", "accessToken", "expiresAt",
        "clientId", "clientSecret", "registrationExpiresAt", "refreshToken",
    }
    tokens_before = emulator.counters()["createToken"]
    assert world.botocore_token() == written["accessToken"]
    assert emulator.counters()["createToken"] == tokens_before, "an hour left: no refresh"


def test_each_tool_refreshes_the_token_the_other_wrote(start_emulator, home) -> None:
    # Four-minute tokens: due for botocore (15 min) and for ssoflow (5 min) at once.
    emulator = start_emulator("--auto-approve", "--token-ttl", "4m")
    world = home(emulator)
    world.ssoflow("login", "--use-device-code", "--sso-session", "it", "--no-browser")
    by_ssoflow = world.token_file()

    # botocore refreshes ssoflow's token through the emulator and writes it back.
    tokens_before = emulator.counters()["createToken"]
    refreshed_by_botocore = world.botocore_token()
    assert refreshed_by_botocore != by_ssoflow["accessToken"]
    assert emulator.counters()["createToken"] == tokens_before + 1
    by_botocore = world.token_file()
    assert by_botocore["accessToken"] == refreshed_by_botocore
    assert by_botocore["clientId"] == by_ssoflow["clientId"]

    # ssoflow reads botocore's file (its layout, its rotated refresh token) and refreshes it.
    printed = world.ssoflow("token", "--profile", "dev").stdout.strip()
    assert printed != refreshed_by_botocore
    assert emulator.counters()["createToken"] == tokens_before + 2
    by_ssoflow_again = world.token_file()
    assert by_ssoflow_again["accessToken"] == printed
    assert by_ssoflow_again["refreshToken"] != by_botocore["refreshToken"], "rotated"
