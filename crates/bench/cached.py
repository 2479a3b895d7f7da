"""The cached paths (issue 14, item 4): what one `ssoflow token` and one
`ssoflow credentials --format process` cost a user when the token and the
role credentials are already cached, beside botocore loading the same token
and the same role credentials from the same files, each a fresh process.

Run through cached.sh. Signs in once against an emulator in a throw-away
HOME (crates/bench/target/cached-scratch/home), fetches role credentials
once, then runs each command M times and reads each run's wall time, CPU
time and peak RSS (wait4, in the launcher measure.c). Checks that the warm runs made no request
(the emulator's counters do not move) and that botocore got the same token
and access key id. Writes the section "cached.sh" of docs/benchmarks.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from benchlib import (BENCH_DIR, REPO, Emulator, Measured, cargo_target_dir, clean_env,
                      build_launcher, counter_delta, fail, format_requests, header, install_cleanup,
                      measure,
                      median, percentile, ratio, run_checked, step, table, verdict,
                      write_section)

SCRATCH = BENCH_DIR / "target" / "cached-scratch"
VENV = REPO / "target" / "interop-venv"
REQUIREMENTS = REPO / "crates" / "emulator" / "tests" / "interop" / "requirements.txt"

SESSION = "it"
PROFILE = "dev"
START_URL = "https://d-1234567890.awsapps.com/start"
ACCOUNT = "111122223333"
ROLE = "AdministratorAccess"

# Issue 14's aim for both ssoflow commands on warm caches: median wall time.
AIM_WALL_MS = 5.0

# botocore as an SDK client gets its token: SSOTokenProvider over the
# ~/.aws/sso/cache file of the profile's sso-session. Prints a digest of the
# token, never the token.
BOTOCORE_TOKEN = """\
import hashlib
import botocore.session
from botocore.tokens import SSOTokenProvider
session = botocore.session.Session(profile="dev")
token = SSOTokenProvider(session).load_token().get_frozen_token().token
print(hashlib.sha256(token.encode()).hexdigest())
"""

# botocore as the AWS CLI sets it up: at session-initialized the CLI points
# the SSO credential provider's cache at ~/.aws/cli/cache
# (awscli/customizations/sso/__init__.py, inject_json_file_cache; without it
# botocore caches role credentials in memory only). Prints the access key id.
BOTOCORE_CREDENTIALS = """\
import os
import botocore.session
from botocore.credentials import JSONFileCache
session = botocore.session.Session(profile="dev")
cache = JSONFileCache(os.path.expanduser(os.path.join("~", ".aws", "cli", "cache")))
session.get_component("credential_provider").get_provider("sso").cache = cache
print(session.get_credentials().get_frozen_credentials().access_key)
"""


def ensure_venv() -> Path:
    """The interop tests' venv (target/interop-venv), made as .ci/run makes it."""
    python = VENV / "bin" / "python"
    if not python.exists():
        step(f"creating {VENV.relative_to(REPO)} (as .ci/run does)")
        run_checked(["python3", "-m", "venv", str(VENV)])
    step("pip install -r crates/emulator/tests/interop/requirements.txt (botocore)")
    run_checked([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                 "-r", str(REQUIREMENTS)])
    return python


def botocore_version(python: Path) -> str:
    return run_checked([str(python), "-c", "import botocore; print(botocore.__version__)"],
                       capture=True).strip()


def write_config(home: Path) -> None:
    config = home / ".aws" / "config"
    config.parent.mkdir(parents=True)
    config.write_text(
        f"[profile {PROFILE}]\nsso_session = {SESSION}\n"
        f"sso_account_id = {ACCOUNT}\nsso_role_name = {ROLE}\nregion = us-east-1\n\n"
        f"[sso-session {SESSION}]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n"
        "sso_registration_scopes = sso:account:access\n")


def main() -> None:
    install_cleanup()
    build_launcher()
    runs = int(os.environ.get("M", "30"))
    if runs < 1:
        fail(f"M={runs}: give at least one run")

    step("building ssoflow and the emulator: cargo build --release -p ssoflow "
         "-p ssoflow-emulator (main workspace, not timed)")
    run_checked(["cargo", "build", "--release", "--quiet", "-p", "ssoflow",
                 "-p", "ssoflow-emulator"], cwd=REPO)
    release = cargo_target_dir() / "release"
    ssoflow, emulator_binary = release / "ssoflow", release / "ssoflow-emulator"
    python = ensure_venv()

    step("a throw-away HOME with a signed-in session and cached role credentials")
    shutil.rmtree(SCRATCH, ignore_errors=True)
    home = SCRATCH / "home"
    write_config(home)
    emulator = Emulator(emulator_binary, ["--auto-approve", "--interval", "1s", "--quiet"],
                        SCRATCH / "emulator.log")
    env = clean_env(home, {"AWS_ENDPOINT_URL_SSO_OIDC": emulator.url,
                           "AWS_ENDPOINT_URL_SSO": emulator.url})
    for argv in ([str(ssoflow), "login", "--use-device-code", "--no-browser",
                  "--sso-session", SESSION],
                 [str(ssoflow), "credentials", "--profile", PROFILE, "--format", "process"]):
        result = subprocess.run(argv, env=env, text=True, capture_output=True, timeout=120,
                                stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            fail(f"{' '.join(argv[1:])} exited with {result.returncode}:\n{result.stderr}")
    token_files = list((home / ".aws" / "sso" / "cache").glob("*.json"))
    role_files = list((home / ".aws" / "cli" / "cache").glob("*.json"))
    if not token_files or not role_files:
        fail(f"nothing cached: {token_files} {role_files}")
    print(f"   {len(token_files)} file(s) in ~/.aws/sso/cache, {len(role_files)} in ~/.aws/cli/cache")

    commands = {
        "ssoflow token": [str(ssoflow), "token", "--sso-session", SESSION],
        "ssoflow credentials": [str(ssoflow), "credentials", "--profile", PROFILE,
                                "--format", "process"],
        "botocore token": [str(python), "-c", BOTOCORE_TOKEN],
        "botocore credentials": [str(python), "-c", BOTOCORE_CREDENTIALS],
        "python -c pass": [str(python), "-c", "pass"],
    }
    results: dict[str, list[Measured]] = {name: [] for name in commands}
    step(f"running each command {runs} times on the warm caches")
    before = emulator.counters()
    names = list(commands)
    for name in names:  # one warm-up each: page cache, Python's bytecode cache
        measure(commands[name], env, SCRATCH / "runs", name)
    for index in range(runs):
        # Rotate the order, so drift in the machine's load hits all alike.
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(measure(commands[name], env, SCRATCH / "runs", name))
        print(f"   round {index + 1}/{runs}", end="\r", flush=True)
    print()
    moved = counter_delta(before, emulator.counters())
    emulator.stop()
    if moved:
        fail(f"the warm runs made requests: {format_requests(moved)}")
    print("   no request reached the emulator during the warm runs")
    check_same_answers(results)
    report(runs, results, botocore_version(python))


def single_output(name: str, runs: list[Measured]) -> str:
    outputs = {run.stdout for run in runs}
    if len(outputs) != 1:
        fail(f"{name} printed {len(outputs)} different answers over its runs")
    return outputs.pop()


def check_same_answers(results: dict[str, list[Measured]]) -> None:
    """botocore must have loaded what ssoflow hands out: the same token (by
    its digest) and the same access key id."""
    token = single_output("ssoflow token", results["ssoflow token"]).strip()
    digest = hashlib.sha256(token.encode()).hexdigest()
    if single_output("botocore token", results["botocore token"]).strip() != digest:
        fail("botocore's SSOTokenProvider returned another token than `ssoflow token`")
    printed = json.loads(single_output("ssoflow credentials", results["ssoflow credentials"]))
    key = single_output("botocore credentials", results["botocore credentials"]).strip()
    if printed.get("AccessKeyId") != key:
        fail("botocore returned another access key id than `ssoflow credentials`")
    print("   botocore returned the same token and the same access key id as ssoflow")


def report(runs: int, results: dict[str, list[Measured]], botocore: str) -> None:
    def wall_ms(name: str) -> list[float]:
        return [r.wall_s * 1000 for r in results[name]]

    def cpu_ms(name: str) -> list[float]:
        return [r.cpu_s * 1000 for r in results[name]]

    def rss_mib(name: str) -> list[float]:
        return [r.max_rss_kib / 1024 for r in results[name]]

    rows = []
    for what in ("token", "credentials"):
        ours, theirs = f"ssoflow {what}", f"botocore {what}"
        figures = [
            ("wall, median (ms)", median(wall_ms(ours)), median(wall_ms(theirs)), 2, True),
            ("wall, p90 (ms)", percentile(wall_ms(ours), 0.9), percentile(wall_ms(theirs), 0.9),
             2, False),
            ("CPU, user + sys, median (ms)", median(cpu_ms(ours)), median(cpu_ms(theirs)), 2,
             False),
            ("peak RSS, median (MiB)", median(rss_mib(ours)), median(rss_mib(theirs)), 1, False),
        ]
        for label, a, b, digits, aimed in figures:
            rows.append([f"{what}: {label}", f"{a:.{digits}f}", f"{b:.{digits}f}",
                         f"{ratio(a, b):.3f}",
                         f"ssoflow ≤ {AIM_WALL_MS:.0f} ms" if aimed else "—",
                         verdict(a, AIM_WALL_MS) if aimed else "—"])
    headings = ["measure", "ssoflow", "botocore", "ratio ssoflow / botocore", "aim", "verdict"]
    lines = table(headings, rows)
    baseline = (f"For scale: `python -c pass` with the same interpreter takes "
                f"{median(wall_ms('python -c pass')):.1f} ms wall (median), "
                f"{median(rss_mib('python -c pass')):.1f} MiB peak RSS.")
    print()
    print("\n".join(lines))
    print(baseline)

    body = header("crates/bench/cached.sh", [
        f"runs: M={runs} of each command, rotating their order, after one warm-up each; "
        "every run a fresh process",
        f"ssoflow: `cargo build --release -p ssoflow` (default features), commands "
        f"`ssoflow token --sso-session {SESSION}` and "
        f"`ssoflow credentials --profile {PROFILE} --format process`",
        f"botocore {botocore} (target/interop-venv): `python -c` loading the token with "
        "`SSOTokenProvider`, and the role credentials with `Session(profile=...)` whose SSO "
        "credential provider caches in `~/.aws/cli/cache` as the AWS CLI sets it up "
        "(`crates/bench/cached.py` has both snippets)",
    ])
    body += ["", *lines, "", baseline, "",
             "Caches warm: a token with an hour left and role credentials in the AWS CLI's "
             "cache, both written by ssoflow and read by both tools; the emulator's counters "
             "showed no request during the timed runs, and botocore returned the same token "
             "and access key id. Wall time is from spawn to the end of wait4, CPU and peak "
             "RSS the kernel's figures for that one process, all taken by the small launcher "
             "`crates/bench/measure.c` (its own address space is under 1 MiB; see there why "
             "a child of Python would show at least Python's RSS)."]
    write_section("cached.sh", "Warm caches: ssoflow token and credentials beside botocore",
                  body)


if __name__ == "__main__":
    main()
