"""botocore against the emulator over HTTPS (``--tls``): code we did not write
judges the emulator's TLS.

botocore verifies certificates with OpenSSL through urllib3 and reads the CA
bundle from ``AWS_CA_BUNDLE``, as the AWS CLI does; so a flow that completes
here with the emulator's generated CA, and fails without it, shows the
certificate, its names and the CA file are what a real client needs.
"""

from __future__ import annotations

import ssl
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import boto3
import botocore.exceptions
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from oidc_helpers import assert_request_id, oidc_client, poll, refresh, register, start

if TYPE_CHECKING:
    from conftest import Emulator


@pytest.fixture
def https_emulator(start_emulator: Callable[..., "Emulator"], tmp_path: Path) -> "Emulator":
    """An emulator serving HTTPS, its generated CA written to ``<tmp>/ca.pem``."""
    ca_file = tmp_path / "ca.pem"
    emulator = start_emulator("--tls", "--tls-ca-out", str(ca_file), "--interval", "1")
    assert emulator.base_url.startswith("https://127.0.0.1:"), emulator.base_url
    assert emulator.ca_file == ca_file
    return emulator


def test_botocore_signs_in_over_https_with_aws_ca_bundle(
    https_emulator: "Emulator", monkeypatch: pytest.MonkeyPatch
) -> None:
    assert https_emulator.ca_file is not None
    monkeypatch.setenv("AWS_CA_BUNDLE", str(https_emulator.ca_file))
    client = oidc_client(https_emulator.base_url)

    registration = register(client, name="interop-tls")
    authorization = start(client, registration)
    assert authorization["verificationUri"] == f"{https_emulator.base_url}/device"
    with pytest.raises(client.exceptions.AuthorizationPendingException):
        poll(client, registration, authorization)
    # The admin API over HTTPS too (conftest trusts the same CA file).
    https_emulator.approve(authorization["userCode"])
    token = poll(client, registration, authorization)
    assert token["accessToken"] and token["tokenType"] == "Bearer"
    assert_request_id(token)
    refreshed = refresh(client, registration, token["refreshToken"])
    assert refreshed["accessToken"] != token["accessToken"]

    # The portal, with botocore's own sso client and the same bundle.
    portal = boto3.client(
        "sso",
        region_name="us-east-1",
        endpoint_url=https_emulator.base_url,
        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}),
    )
    accounts = portal.list_accounts(accessToken=refreshed["accessToken"])
    assert [a["accountId"] for a in accounts["accountList"]] == ["111122223333", "444455556666"]

    # Each request shows in the emulator's log with the id botocore saw.
    assert f"request_id={token['ResponseMetadata']['RequestId']} " in https_emulator.stderr()


def test_the_verification_page_is_served_over_https(https_emulator: "Emulator") -> None:
    assert https_emulator.ca_file is not None
    # botocore given the CA with verify= instead of the environment.
    client = boto3.client(
        "sso-oidc",
        region_name="us-east-1",
        endpoint_url=https_emulator.base_url,
        verify=str(https_emulator.ca_file),
        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}),
    )
    authorization = start(client, register(client, name="interop-tls-page"))
    context = ssl.create_default_context(cafile=str(https_emulator.ca_file))
    with urllib.request.urlopen(
        authorization["verificationUriComplete"], timeout=10, context=context
    ) as page:
        assert page.status == 200
        html = page.read().decode()
    assert authorization["userCode"] in html
    # localhost is one of the certificate's names as well.
    port = https_emulator.base_url.rsplit(":", 1)[1]
    with urllib.request.urlopen(f"https://localhost:{port}/device", timeout=10, context=context) as page:
        assert page.status == 200


def test_botocore_without_the_ca_fails_certificate_verification(https_emulator: "Emulator") -> None:
    client = oidc_client(https_emulator.base_url)
    with pytest.raises(botocore.exceptions.SSLError) as excinfo:
        register(client, name="interop-tls-untrusted")
    assert "CERTIFICATE_VERIFY_FAILED" in str(excinfo.value), excinfo.value
    # The failed handshake cost that connection only: the emulator serves on.
    assert https_emulator.counters()["registerClient"] == 0
    assert https_emulator.process.poll() is None
