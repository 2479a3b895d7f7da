"""botocore sso-oidc client helpers shared by the interop tests."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config

START_URL = "https://d-1234567890.awsapps.com/start"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REFRESH_GRANT = "refresh_token"
SCOPES = ["sso:account:access"]

# No retries unless a test asks for them: an error must reach the test as the
# emulator sent it, exactly once. (`max_attempts` counts retries after the
# first attempt; `total_max_attempts` counts every attempt.)
NO_RETRIES = {"total_max_attempts": 1}


def oidc_client(endpoint_url: str, *, signed: bool = False, retries: dict | None = None) -> Any:
    """botocore's sso-oidc client as the AWS CLI builds it: unsigned requests
    (the three device-flow operations take no auth) to an explicit endpoint."""
    options: dict[str, Any] = {"retries": NO_RETRIES if retries is None else retries}
    if not signed:
        options["signature_version"] = UNSIGNED
    return boto3.client(
        "sso-oidc",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        config=Config(**options),
    )


def register(client: Any, name: str = "interop-botocore", scopes: list[str] | None = SCOPES) -> dict:
    kwargs: dict[str, Any] = {"clientName": name, "clientType": "public"}
    if scopes is not None:
        kwargs["scopes"] = list(scopes)
    return client.register_client(**kwargs)


def start(client: Any, registration: dict) -> dict:
    return client.start_device_authorization(
        clientId=registration["clientId"],
        clientSecret=registration["clientSecret"],
        startUrl=START_URL,
    )


def poll(client: Any, registration: dict, authorization: dict) -> dict:
    return client.create_token(
        clientId=registration["clientId"],
        clientSecret=registration["clientSecret"],
        grantType=DEVICE_GRANT,
        deviceCode=authorization["deviceCode"],
    )


def refresh(client: Any, registration: dict, refresh_token: str) -> dict:
    return client.create_token(
        clientId=registration["clientId"],
        clientSecret=registration["clientSecret"],
        grantType=REFRESH_GRANT,
        refreshToken=refresh_token,
    )


def assert_error(excinfo: pytest.ExceptionInfo, code: str, status: int, oauth_error: str) -> dict:
    """The parsed error is `code` with `status`, the OAuth `error` member merged
    in from the body, a message, and a request id; returns the response."""
    response = excinfo.value.response
    assert response["Error"]["Code"] == code, response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status, response
    assert response.get("error") == oauth_error, response
    assert response["Error"].get("Message"), f"no message (error_description) in {response}"
    assert response["ResponseMetadata"].get("RequestId"), f"no x-amzn-RequestId in {response}"
    return response


def assert_request_id(response: dict) -> str:
    request_id = response["ResponseMetadata"].get("RequestId")
    assert request_id, f"ResponseMetadata.RequestId is not set: {response['ResponseMetadata']}"
    return request_id


def wait_for_token(
    client: Any,
    registration: dict,
    authorization: dict,
    timeout_s: float = 30.0,
    stop: threading.Event | None = None,
    history: list[str] | None = None,
) -> dict:
    """Polls as the AWS CLI does: wait `interval` between polls, add 5 s on
    slow_down, keep going on authorization_pending. Any other error (access
    denied, expired) propagates; gives up with TimeoutError after `timeout_s`
    or as soon as `stop` is set. Each poll's outcome is appended to `history`."""
    stop = stop or threading.Event()
    history = [] if history is None else history
    interval = authorization["interval"]
    began = time.monotonic()
    while True:
        try:
            token = poll(client, registration, authorization)
            history.append(f"{time.monotonic() - began:.2f}s token")
            return token
        except client.exceptions.AuthorizationPendingException:
            history.append(f"{time.monotonic() - began:.2f}s pending")
        except client.exceptions.SlowDownException:
            history.append(f"{time.monotonic() - began:.2f}s slow_down")
            interval += 5
        except Exception as error:
            history.append(f"{time.monotonic() - began:.2f}s {type(error).__name__}")
            raise
        if time.monotonic() - began + interval > timeout_s:
            raise TimeoutError(f"no token within {timeout_s} s; polls: {history}")
        if stop.wait(interval):
            raise TimeoutError(f"stopped while waiting for the token; polls: {history}")
