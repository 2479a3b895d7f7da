"""Role credentials shared with the real AWS code, through the emulator
binary's SSO portal: botocore's own SSO credential provider uses the token
``ssoflow login`` cached; botocore runs ``credential_process = ssoflow
credentials ...``; and the AWS CLI's role cache (``~/.aws/cli/cache``) is
read by each side after the other wrote it, under botocore's own key.

Needs the ssoflow binary: ``cargo build -p ssoflow`` (or SSOFLOW_BIN).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import boto3
import pytest
from botocore.credentials import JSONFileCache, SSOCredentialFetcher
from botocore.tokens import SSOTokenProvider

from test_cli_cache import START_URL, Home, ssoflow_binary

if TYPE_CHECKING:
    from conftest import Emulator

ACCOUNT = "111122223333"
ROLE = "AdministratorAccess"


class RoleHome(Home):
    """Home with [profile dev] that carries a role, endpoints for both services."""

    def __init__(self, root: Path, emulator: "Emulator", monkeypatch: pytest.MonkeyPatch):
        super().__init__(root, emulator, monkeypatch)
        command = " ".join(
            shlex.quote(part)
            for part in [str(ssoflow_binary()), "credentials", "--sso-session", "it",
                         "--account-id", ACCOUNT, "--role-name", ROLE]
        )
        self.config.write_text(
            "[profile dev]\nsso_session = it\n"
            f"sso_account_id = {ACCOUNT}\nsso_role_name = {ROLE}\n\n"
            # No sso_* key here: botocore would use its own SSO provider.
            f"[profile proc]\ncredential_process = {command}\n\n"
            f"[sso-session it]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n"
            "sso_registration_scopes = sso:account:access\n"
        )
        monkeypatch.setenv("AWS_ENDPOINT_URL_SSO", emulator.base_url)
        self.role_cache = root / ".aws" / "cli" / "cache"

    def ssoflow(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(ssoflow_binary()), *args],
            env={
                "HOME": str(self.root),
                "PATH": os.environ.get("PATH", ""),
                "AWS_CONFIG_FILE": str(self.config),
                "AWS_ENDPOINT_URL_SSO_OIDC": self.emulator.base_url,
                "AWS_ENDPOINT_URL_SSO": self.emulator.base_url,
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"ssoflow {' '.join(args)}: {result.stderr}"
        return result

    def botocore_cache_key(self) -> str:
        """The file name botocore's own SSOCredentialFetcher uses."""
        fetcher = SSOCredentialFetcher(
            START_URL, "us-east-1", ROLE, ACCOUNT, client_creator=None,
            token_loader=None, cache={}, sso_session_name="it",
        )
        return fetcher._create_cache_key()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[["Emulator"], RoleHome]:
    return lambda emulator: RoleHome(tmp_path / "home", emulator, monkeypatch)


def login(world: RoleHome) -> None:
    world.ssoflow("login", "--use-device-code", "--sso-session", "it", "--no-browser")


def test_botocore_s_sso_provider_uses_the_token_ssoflow_login_cached(start_emulator, home) -> None:
    emulator = start_emulator("--auto-approve")
    world = home(emulator)
    login(world)
    credentials = boto3.Session(profile_name="dev").get_credentials().get_frozen_credentials()
    assert credentials.access_key.startswith("ASIA")
    assert emulator.counters()["getRoleCredentials"] == 1


def test_botocore_runs_ssoflow_as_credential_process(start_emulator, home) -> None:
    emulator = start_emulator("--auto-approve")
    world = home(emulator)
    login(world)
    # The process inherits the environment (HOME, both endpoints: the Home set them).
    credentials = boto3.Session(profile_name="proc").get_credentials().get_frozen_credentials()
    assert credentials.access_key.startswith("ASIA")
    # It is the account's role credentials ssoflow cached, under botocore's key.
    cached = json.loads((world.role_cache / f"{world.botocore_cache_key()}.json").read_text())
    assert cached["ProviderType"] == "sso"
    assert cached["Credentials"]["AccessKeyId"] == credentials.access_key
    assert cached["Credentials"]["AccountId"] == ACCOUNT


def test_the_role_cache_is_shared_both_ways(start_emulator, home) -> None:
    emulator = start_emulator("--auto-approve")
    world = home(emulator)
    login(world)
    # ssoflow writes; botocore's JSONFileCache reads it under the AWS CLI's key.
    printed = json.loads(world.ssoflow(
        "credentials", "--sso-session", "it", "--account-id", ACCOUNT, "--role-name", ROLE
    ).stdout)
    cache = JSONFileCache(str(world.role_cache))
    key = world.botocore_cache_key()
    assert key in cache
    assert cache[key]["Credentials"]["AccessKeyId"] == printed["AccessKeyId"]
    assert cache[key]["Credentials"]["SessionToken"] == printed["SessionToken"]

    # botocore writes (its fetcher with the same cache); ssoflow reads it
    # and asks the portal for nothing.
    (world.role_cache / f"{key}.json").unlink()
    session = boto3.Session(profile_name="dev")
    fetcher = SSOCredentialFetcher(
        START_URL, "us-east-1", ROLE, ACCOUNT, client_creator=session._session.create_client,
        token_provider=SSOTokenProvider(session._session),
        cache=JSONFileCache(str(world.role_cache)), sso_session_name="it",
    )
    by_botocore = fetcher.fetch_credentials()
    calls = emulator.counters()["getRoleCredentials"]
    printed = json.loads(world.ssoflow(
        "credentials", "--sso-session", "it", "--account-id", ACCOUNT, "--role-name", ROLE
    ).stdout)
    assert printed["AccessKeyId"] == by_botocore["access_key"]
    assert emulator.counters()["getRoleCredentials"] == calls, "read from botocore's file"
