"""Shared fixtures for the emulator's interop tests.

The tests drive the real ``ssoflow-emulator`` binary over HTTP (and HTTPS with
``--tls``) with botocore's own ``sso-oidc`` client and with headless Chromium. Build the binary first:

    cargo build -p ssoflow-emulator --bin ssoflow-emulator
    python3 -m pip install -r crates/emulator/tests/interop/requirements.txt
    python3 -m pytest -q crates/emulator/tests/interop

Environment:
    SSOFLOW_EMULATOR_BIN     the binary (default <repo>/target/debug/ssoflow-emulator)
    SSOFLOW_INTEROP_OUTPUT   where screenshots go (default <repo>/target/interop-output)
"""

from __future__ import annotations

import json
import os
import queue
import signal
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

# The tests import oidc_helpers from this folder whatever pytest's import mode.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

# conftest.py -> interop -> tests -> emulator -> crates -> repository root
REPO_ROOT = Path(__file__).resolve().parents[4]
DEFAULT_BINARY = REPO_ROOT / "target" / "debug" / "ssoflow-emulator"
DEFAULT_OUTPUT = REPO_ROOT / "target" / "interop-output"

# How long the emulator may take to print its base URL, and to exit on SIGTERM
# (it gives requests in flight up to 5 s, so allow a little more).
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


def emulator_binary() -> Path:
    """The emulator binary to run; fails the test (never skips) if it is missing."""
    configured = os.environ.get("SSOFLOW_EMULATOR_BIN")
    binary = Path(configured) if configured else DEFAULT_BINARY
    if not binary.is_file() or not os.access(binary, os.X_OK):
        source = "SSOFLOW_EMULATOR_BIN" if configured else "the default path"
        pytest.fail(
            f"ssoflow-emulator binary not found at {binary} (from {source}). Build it with "
            "`cargo build -p ssoflow-emulator --bin ssoflow-emulator` from the repository "
            "root, or point SSOFLOW_EMULATOR_BIN at an existing build.",
            pytrace=False,
        )
    return binary


@dataclass
class AdminReply:
    """The answer of one admin API call."""

    status: int
    body: Any


@dataclass
class Emulator:
    """One running emulator process."""

    base_url: str
    process: subprocess.Popen
    flags: tuple[str, ...]
    stderr_path: Path
    reader: threading.Thread | None = field(default=None, repr=False)
    exit_code: int | None = field(default=None)
    # The CA file of an emulator started with --tls --tls-ca-out PATH, which
    # the admin calls trust; None over plain HTTP.
    ca_file: Path | None = field(default=None)

    # --- the admin API under /_emulator/ -------------------------------------

    def admin(self, method: str, path: str, body: Any = None) -> AdminReply:
        """Calls ``/_emulator/<path>`` and returns its status and parsed JSON body."""
        url = f"{self.base_url}/_emulator/{path.lstrip('/')}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        context = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else None
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        return AdminReply(status, json.loads(raw) if raw else None)

    def _ok(self, method: str, path: str, body: Any = None) -> Any:
        reply = self.admin(method, path, body)
        assert reply.status == 200, f"{method} /_emulator/{path} {body!r} -> {reply}"
        return reply.body

    def approve(self, user_code: str) -> Any:
        return self._ok("POST", "approve", {"userCode": user_code})

    def deny(self, user_code: str) -> Any:
        return self._ok("POST", "deny", {"userCode": user_code})

    def pending(self) -> list[dict]:
        return self._ok("GET", "pending")

    def counters(self) -> dict:
        return self._ok("GET", "counters")

    def inject_fault(self, **fault: Any) -> Any:
        return self._ok("POST", "faults", fault)

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    # --- lifecycle -----------------------------------------------------------

    def stop(self) -> int:
        """SIGTERM, wait, and SIGKILL if it does not exit in time; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)
        # The reader thread sees end-of-file once the process is gone.
        if self.reader is not None:
            self.reader.join(timeout=STOP_TIMEOUT_S)
        if self.process.stdout is not None and (self.reader is None or not self.reader.is_alive()):
            self.process.stdout.close()
        self.exit_code = self.process.returncode
        return self.exit_code


def _start(binary: Path, flags: tuple[str, ...], stderr_path: Path) -> Emulator:
    argv = [str(binary), "--port", "0", *flags]
    stderr_file = open(stderr_path, "wb")
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            text=True,
        )
    finally:
        stderr_file.close()

    # Read the first stdout line on a helper thread, so a hung or crashed
    # emulator turns into a clear failure instead of a hung test run.
    lines: queue.Queue[str] = queue.Queue()

    def read_first_line() -> None:
        assert process.stdout is not None
        lines.put(process.stdout.readline())
        # Keep draining so the emulator can never block on a full pipe.
        for _ in process.stdout:
            pass

    reader = threading.Thread(target=read_first_line, daemon=True)
    reader.start()
    try:
        first = lines.get(timeout=START_TIMEOUT_S).strip()
    except queue.Empty:
        first = ""
    ca_file = Path(flags[flags.index("--tls-ca-out") + 1]) if "--tls-ca-out" in flags else None
    emulator = Emulator(first, process, flags, stderr_path, reader, ca_file=ca_file)
    if not first.startswith(("http://", "https://")):
        emulator.stop()
        pytest.fail(
            f"{' '.join(argv)} printed no base URL within {START_TIMEOUT_S:.0f} s "
            f"(first stdout line {first!r}, exit code {process.returncode}); stderr:\n"
            f"{emulator.stderr()}",
            pytrace=False,
        )
    return emulator


@pytest.fixture
def start_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Emulator]]:
    """A factory: ``start_emulator("--strict-interval", ...)`` starts an emulator
    on a free port with those extra flags (``--port 0`` is added) and returns an
    :class:`Emulator`; every emulator it started is stopped after the test."""
    binary = emulator_binary()
    started: list[Emulator] = []
    logs = tmp_path_factory.mktemp("emulator-logs")

    def start(*flags: str) -> Emulator:
        emulator = _start(binary, tuple(flags), logs / f"stderr-{len(started)}.log")
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def emulator(start_emulator: Callable[..., Emulator]) -> Emulator:
    """An emulator with the default behaviour and a 1 s polling interval."""
    return start_emulator("--interval", "1")


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Where screenshots go: $SSOFLOW_INTEROP_OUTPUT or <repo>/target/interop-output."""
    configured = os.environ.get("SSOFLOW_INTEROP_OUTPUT")
    path = Path(configured) if configured else DEFAULT_OUTPUT
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(autouse=True)
def isolated_aws_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Keeps the developer's own AWS configuration out of the tests: no config
    or credentials files, no profile, no endpoint overrides, no CA bundle, no
    instance metadata lookups."""
    empty = tmp_path_factory.mktemp("aws-config")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in list(os.environ):
        if name in {
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_ENDPOINT_URL",
            "AWS_RETRY_MODE",
            "AWS_MAX_ATTEMPTS",
            "AWS_USE_FIPS_ENDPOINT",
            "AWS_USE_DUALSTACK_ENDPOINT",
            "AWS_CA_BUNDLE",
        } or name.startswith("AWS_ENDPOINT_URL_"):
            monkeypatch.delenv(name, raising=False)
