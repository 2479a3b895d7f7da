"""botocore's own ``sso-oidc`` client against the emulator.

Every error is checked as the modeled exception class botocore raises
(``client.exceptions.AuthorizationPendingException`` and so on): that class is
what the AWS CLI's device-flow poller catches, and botocore only picks it when
the response carries the right status and ``x-amzn-ErrorType`` header.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import pytest

from oidc_helpers import (
    SCOPES,
    assert_error,
    assert_request_id,
    oidc_client,
    poll,
    refresh,
    register,
    start,
)

if TYPE_CHECKING:
    from conftest import Emulator


# --- RegisterClient and StartDeviceAuthorization ------------------------------


def test_register_and_start_return_what_the_aws_cli_needs(emulator: Emulator) -> None:
    client = oidc_client(emulator.base_url)
    before = int(time.time())

    registration = register(client)
    assert registration["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert registration["clientId"] and registration["clientSecret"]
    issued, expires = registration["clientIdIssuedAt"], registration["clientSecretExpiresAt"]
    # Seconds since the epoch (not milliseconds), about 90 days apart.
    assert before - 5 <= issued <= time.time() + 5
    assert abs((expires - issued) - 90 * 24 * 3600) <= 5

    authorization = start(client, registration)
    assert authorization["ResponseMetadata"]["HTTPStatusCode"] == 200
    # The AWS CLI reads all of these without a default and crashes when one is missing.
    for member in ("deviceCode", "userCode", "verificationUri", "verificationUriComplete",
                   "expiresIn", "interval"):
        assert member in authorization, f"StartDeviceAuthorization lacks {member}: {authorization}"
    assert authorization["expiresIn"] == 600
    assert authorization["interval"] == 1
    assert isinstance(authorization["expiresIn"], int) and isinstance(authorization["interval"], int)
    assert authorization["verificationUri"] == f"{emulator.base_url}/device"
    assert authorization["verificationUriComplete"] == (
        f"{authorization['verificationUri']}?user_code={authorization['userCode']}"
    )

    ids = {assert_request_id(registration), assert_request_id(authorization)}
    assert len(ids) == 2, "every response should carry its own request id"

    # The admin API sees the same authorization waiting for a person.
    [pending] = [p for p in emulator.pending() if p["userCode"] == authorization["userCode"]]
    assert pending["clientName"] == "interop-botocore"
    assert pending["scopes"] == SCOPES


def test_a_path_prefix_in_the_endpoint_url_works(emulator: Emulator) -> None:
    client = oidc_client(emulator.base_url + "/prefix")
    registration = register(client)
    authorization = start(client, registration)
    with pytest.raises(client.exceptions.AuthorizationPendingException):
        poll(client, registration, authorization)
    emulator.approve(authorization["userCode"])
    token = poll(client, registration, authorization)
    assert token["accessToken"] and token["tokenType"] == "Bearer"
    assert_request_id(token)
    counters = emulator.counters()
    assert counters["registerClient"] == 1
    assert counters["startDeviceAuthorization"] == 1
    assert counters["createToken"] == 2
    assert counters["other"] == 0, f"a prefixed call was not recognised: {counters}"


# --- CreateToken: the device-code grant ---------------------------------------


def test_a_poll_before_approval_is_authorization_pending(emulator: Emulator) -> None:
    client = oidc_client(emulator.base_url)
    registration = register(client)
    authorization = start(client, registration)
    with pytest.raises(client.exceptions.AuthorizationPendingException) as excinfo:
        poll(client, registration, authorization)
    assert_error(excinfo, "AuthorizationPendingException", 400, "authorization_pending")


def test_the_aws_cli_double_poll_is_tolerated_once(emulator: Emulator) -> None:
    """The AWS CLI polls twice back to back before it starts waiting the
    interval; the default emulator tolerates that one early poll, and answers
    the next early one with slow_down."""
    client = oidc_client(emulator.base_url)
    registration = register(client)
    authorization = start(client, registration)
    for _ in range(2):
        with pytest.raises(client.exceptions.AuthorizationPendingException):
            poll(client, registration, authorization)
    with pytest.raises(client.exceptions.SlowDownException) as excinfo:
        poll(client, registration, authorization)
    assert_error(excinfo, "SlowDownException", 400, "slow_down")


def test_strict_interval_answers_the_first_early_poll_with_slow_down(start_emulator) -> None:
    emulator = start_emulator("--interval", "1", "--strict-interval")
    client = oidc_client(emulator.base_url)
    registration = register(client)
    authorization = start(client, registration)
    with pytest.raises(client.exceptions.AuthorizationPendingException):
        poll(client, registration, authorization)
    with pytest.raises(client.exceptions.SlowDownException) as excinfo:
        poll(client, registration, authorization)
    assert_error(excinfo, "SlowDownException", 400, "slow_down")


def test_approval_yields_a_token_once(emulator: Emulator) -> None:
    client = oidc_client(emulator.base_url)
    registration = register(client)
    authorization = start(client, registration)
    with pytest.raises(client.exceptions.AuthorizationPendingException):
        poll(client, registration, authorization)

    assert emulator.approve(authorization["userCode"])["decision"] == "approved"
    token = poll(client, registration, authorization)
    assert token["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert token["accessToken"]
    assert token["refreshToken"]
    assert token["tokenType"] == "Bearer"
    assert token["expiresIn"] == 3600
    assert_request_id(token)
    assert all(p["userCode"] != authorization["userCode"] for p in emulator.pending())

    # The device code is spent.
    with pytest.raises(client.exceptions.InvalidGrantException) as excinfo:
        poll(client, registration, authorization)
    assert_error(excinfo, "InvalidGrantException", 400, "invalid_grant")


def test_a_denied_authorization_is_access_denied(emulator: Emulator) -> None:
    client = oidc_client(emulator.base_url)
    registration = register(client)
    authorization = start(client, registration)
    assert emulator.deny(authorization["userCode"])["decision"] == "denied"
    with pytest.raises(client.exceptions.AccessDeniedException) as excinfo:
        poll(client, registration, authorization)
    assert_error(excinfo, "AccessDeniedException", 400, "access_denied")


def test_an_expired_device_code_is_expired_token(start_emulator) -> None:
    emulator = start_emulator("--interval", "1", "--device-code-ttl", "2s")
    client = oidc_client(emulator.base_url)
    registration = register(client)
    authorization = start(client, registration)
    assert authorization["expiresIn"] == 2
    time.sleep(2.2)
    with pytest.raises(client.exceptions.ExpiredTokenException) as excinfo:
        poll(client, registration, authorization)
    assert_error(excinfo, "ExpiredTokenException", 400, "expired_token")
    # An expired code cannot be approved any more either.
    assert emulator.admin("POST", "approve", {"userCode": authorization["userCode"]}).status == 410


def test_an_unknown_device_code_is_invalid_grant(emulator: Emulator) -> None:
    client = oidc_client(emulator.base_url)
    registration = register(client)
    with pytest.raises(client.exceptions.InvalidGrantException) as excinfo:
        poll(client, registration, {"deviceCode": "no-such-device-code-" + uuid.uuid4().hex})
    assert_error(excinfo, "InvalidGrantException", 400, "invalid_grant")


def test_a_wrong_client_secret_is_invalid_client_401(emulator: Emulator) -> None:
    client = oidc_client(emulator.base_url)
    registration = register(client)
    wrong = dict(registration, clientSecret=registration["clientSecret"] + "x")

    with pytest.raises(client.exceptions.InvalidClientException) as excinfo:
        start(client, wrong)
    assert_error(excinfo, "InvalidClientException", 401, "invalid_client")

    authorization = start(client, registration)
    with pytest.raises(client.exceptions.InvalidClientException) as excinfo:
        poll(client, wrong, authorization)
    assert_error(excinfo, "InvalidClientException", 401, "invalid_client")


def test_an_expired_registration_is_invalid_client(emulator: Emulator) -> None:
    client = oidc_client(emulator.base_url)
    registration = register(client)
    assert registration["clientId"] in emulator.admin("GET", "registrations").body
    reply = emulator.admin("POST", "registrations/expire", {"clientId": registration["clientId"]})
    assert reply.status == 200, reply
    with pytest.raises(client.exceptions.InvalidClientException) as excinfo:
        start(client, registration)
    assert_error(excinfo, "InvalidClientException", 401, "invalid_client")


def test_auto_approve_gives_the_token_on_the_first_poll(start_emulator) -> None:
    emulator = start_emulator("--interval", "1", "--auto-approve")
    client = oidc_client(emulator.base_url)
    registration = register(client)
    token = poll(client, registration, start(client, registration))
    assert token["accessToken"] and token["tokenType"] == "Bearer"


# --- CreateToken: the refresh-token grant -------------------------------------


def test_a_refresh_token_gets_a_new_token_and_is_rotated(emulator: Emulator) -> None:
    client = oidc_client(emulator.base_url)
    registration = register(client)
    authorization = start(client, registration)
    emulator.approve(authorization["userCode"])
    first = poll(client, registration, authorization)

    second = refresh(client, registration, first["refreshToken"])
    assert second["tokenType"] == "Bearer"
    assert second["expiresIn"] == 3600
    assert second["accessToken"] and second["accessToken"] != first["accessToken"]
    assert second["refreshToken"] and second["refreshToken"] != first["refreshToken"]
    assert_request_id(second)

    # The old refresh token was rotated away.
    with pytest.raises(client.exceptions.InvalidGrantException) as excinfo:
        refresh(client, registration, first["refreshToken"])
    assert_error(excinfo, "InvalidGrantException", 400, "invalid_grant")

    # A revoked one (the portal session ended) is refused the same way.
    reply = emulator.admin("POST", "refresh-tokens/revoke", {"refreshToken": second["refreshToken"]})
    assert reply.status == 200, reply
    with pytest.raises(client.exceptions.InvalidGrantException):
        refresh(client, registration, second["refreshToken"])


def test_no_refresh_token_without_scopes_or_with_no_refresh_tokens(start_emulator) -> None:
    emulator = start_emulator("--interval", "1")
    client = oidc_client(emulator.base_url)
    legacy = register(client, "interop-legacy", scopes=None)
    authorization = start(client, legacy)
    emulator.approve(authorization["userCode"])
    token = poll(client, legacy, authorization)
    assert token["accessToken"] and "refreshToken" not in token

    emulator = start_emulator("--interval", "1", "--no-refresh-tokens")
    client = oidc_client(emulator.base_url)
    scoped = register(client)
    authorization = start(client, scoped)
    emulator.approve(authorization["userCode"])
    token = poll(client, scoped, authorization)
    assert token["accessToken"] and "refreshToken" not in token


# --- CreateTokenWithIAM ---------------------------------------------------------


def test_create_token_with_iam_is_refused_plainly(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CreateTokenWithIAM is SigV4-signed, so botocore needs (any) credentials.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLEINTEROP00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "interop-dummy-secret-access-key")
    client = oidc_client(emulator.base_url, signed=True)
    with pytest.raises(client.exceptions.InvalidRequestException) as excinfo:
        client.create_token_with_iam(
            clientId="arn:aws:sso::123456789012:application/ssoins-111111111111/apl-222222222222",
            grantType="authorization_code",
            code="interop-code",
            redirectUri="https://example.invalid/redirect",
        )
    response = assert_error(excinfo, "InvalidRequestException", 400, "invalid_request")
    assert "not supported by this emulator" in response["Error"]["Message"]
    assert emulator.counters()["other"] == 1


# --- Injected faults and botocore's retries --------------------------------------


def test_an_injected_503_reaches_a_client_without_retries(emulator: Emulator) -> None:
    client = oidc_client(emulator.base_url)
    emulator.inject_fault(fault="status", status=503, count=1)
    with pytest.raises(client.exceptions.InternalServerException) as excinfo:
        register(client)
    assert_error(excinfo, "InternalServerException", 503, "server_error")
    assert emulator.counters()["registerClient"] == 1
    # The fault is used up: the next call goes through.
    assert register(client)["clientId"]


def test_botocore_retries_an_injected_503_by_itself(emulator: Emulator) -> None:
    client = oidc_client(emulator.base_url, retries={"mode": "standard", "total_max_attempts": 3})
    emulator.inject_fault(fault="status", status=503, count=1)
    registration = register(client)
    assert registration["clientId"]
    assert registration["ResponseMetadata"]["RetryAttempts"] == 1
    assert emulator.counters()["registerClient"] == 2


def test_an_injected_slow_down_on_register_client_is_modeled(emulator: Emulator) -> None:
    client = oidc_client(emulator.base_url)
    emulator.inject_fault(fault="error", code="SlowDownException", count=1)
    with pytest.raises(client.exceptions.SlowDownException) as excinfo:
        register(client)
    assert_error(excinfo, "SlowDownException", 400, "slow_down")


# --- The process ----------------------------------------------------------------


def test_sigterm_stops_the_emulator_cleanly(start_emulator) -> None:
    emulator = start_emulator("--interval", "1")
    client = oidc_client(emulator.base_url)
    register(client)
    assert emulator.stop() == 0, emulator.stderr()
    assert "stopping" in emulator.stderr()
