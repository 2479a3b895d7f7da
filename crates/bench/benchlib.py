"""What compare.py and cached.py share: running a command and reading its
CPU time and peak memory from the kernel, the emulator as a child process,
and the report's header and its section in docs/benchmarks.md.

Standard library only, so the scripts run on any python3 >= 3.8.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent.parent
DOC = REPO / "docs" / "benchmarks.md"

DOC_INTRO = """# Benchmarks

What a program pays for ssoflow, beside the AWS tools doing the same work
(issue 14). Each section between marker comments is written, whole, by the
script the markers name; run it again to replace the section with fresh
figures (`crates/bench/README.md` says what is measured and how long it
takes). Figures from a busy machine are noisy: compare runs from one quiet
machine. The profile at the end is a one-off reading, not a script's.
"""


def fail(message: str) -> NoReturn:
    print(f"\nFAILED: {message}", file=sys.stderr)
    sys.exit(1)


def step(message: str) -> None:
    print(f"== {message}", flush=True)


def run_checked(command: list[str], cwd: Path | None = None, env: dict | None = None,
                capture: bool = False, what: str | None = None) -> str:
    """Runs `command`; on failure, exits with its output."""
    result = subprocess.run(command, cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE if capture else None,
                            stderr=subprocess.PIPE if capture else None)
    if result.returncode != 0:
        detail = f"\n{result.stdout or ''}{result.stderr or ''}" if capture else ""
        fail(f"{what or ' '.join(command)} exited with {result.returncode}{detail}")
    return result.stdout if capture else ""


# ---------------------------------------------------------------- measuring

@dataclass
class Measured:
    """One run of a program, as the kernel accounted it."""

    wall_s: float
    cpu_s: float  # user + system, from wait4's rusage of this child alone
    max_rss_kib: int  # peak resident set size (Linux reports KiB)
    minor_faults: int  # pages the kernel mapped in for it
    stdout: str


LAUNCHER_SOURCE = BENCH_DIR / "measure.c"
LAUNCHER = BENCH_DIR / "target" / "measure"


def build_launcher() -> Path:
    """Compiles measure.c (see there why it exists) into crates/bench/target."""
    LAUNCHER.parent.mkdir(parents=True, exist_ok=True)
    compiler = os.environ.get("CC", "cc")
    if shutil.which(compiler) is None:
        fail(f"no C compiler ({compiler}) for crates/bench/measure.c; install gcc (Rust's "
             "linker needs it too) or set CC")
    run_checked([compiler, "-O2", "-o", str(LAUNCHER), str(LAUNCHER_SOURCE)])
    return LAUNCHER


def measure(argv: list[str], env: dict, scratch: Path, what: str,
            expect_status: int = 0) -> Measured:
    """Runs argv (an absolute path first; no shell) through the measure
    launcher, with stdout and stderr sent to files in `scratch`, and returns
    wall time, CPU time and peak RSS of exactly that process, as the kernel
    accounted them (wait4). Exits loudly when the program fails."""
    if not LAUNCHER.exists():
        build_launcher()
    scratch.mkdir(parents=True, exist_ok=True)
    out_path = scratch / "last.stdout"
    err_path = scratch / "last.stderr"
    result_path = scratch / "last.result"
    result_path.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(out_path), flags, 0o600),
        (os.POSIX_SPAWN_OPEN, 2, str(err_path), flags, 0o600),
    ]
    launcher = [str(LAUNCHER), str(result_path), *argv]
    pid = os.posix_spawn(launcher[0], launcher, env, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    stderr = err_path.read_text(errors="replace")
    if status != 0 or not result_path.exists():
        fail(f"the measure launcher failed ({status}) for {what}:\n{stderr}")
    fields = dict(item.split("=", 1) for item in result_path.read_text().split())
    code = int(fields["status"])
    if code != expect_status:
        fail(f"{what} exited with {code}\n  command: {' '.join(argv)}\n  stderr:\n{stderr}")
    return Measured(
        wall_s=int(fields["wall_ns"]) / 1e9,
        cpu_s=(int(fields["utime_us"]) + int(fields["stime_us"])) / 1e6,
        max_rss_kib=int(fields["maxrss_kib"]),
        minor_faults=int(fields["minflt"]),
        stdout=out_path.read_text(errors="replace"),
    )


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: p90 of 30 runs is the 27th smallest."""
    ordered = sorted(values)
    rank = math.ceil(round(fraction * len(ordered), 9))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else float("nan")


def verdict(value: float, aim: float) -> str:
    return "met" if value <= aim else "missed"


def clean_env(home: Path, extra: dict | None = None) -> dict:
    """A small, fixed environment: a throw-away HOME, so nobody's ~/.aws or
    AWS_* variables change what a program reads; PATH for subprocesses."""
    env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
    }
    env.update(extra or {})
    return env


# ---------------------------------------------------------------- the emulator

class Emulator:
    """`ssoflow-emulator --port 0 ...` as a child; the base URL is the first
    line it prints on stdout. Stop it with stop() (also at exit and on
    SIGINT/SIGTERM, see install_cleanup)."""

    def __init__(self, binary: Path, flags: list[str], log: Path, start_timeout: float = 20.0):
        if not binary.is_file():
            fail(f"emulator binary {binary} is missing")
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log
        self.log = open(log, "w")
        self.process = subprocess.Popen([str(binary), "--port", "0", *flags],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=self.log, text=True,
                                        preexec_fn=_die_with_parent)
        _LIVE.append(self)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(start_timeout)
        url = line[0].strip() if line else ""
        if not url.startswith("http"):
            status = self.process.poll()
            self.stop()
            why = (f"exited with status {status} before printing its URL" if status is not None
                   else f"printed no URL within {start_timeout:.0f} s")
            fail(f"the emulator ({binary}) {why}; its stderr:\n{log.read_text()}")
        self.url = url

    def counters(self) -> dict:
        try:
            with urllib.request.urlopen(f"{self.url}/_emulator/counters", timeout=10) as answer:
                return json.load(answer)
        except OSError as error:
            fail(f"cannot read the emulator's counters: {error}; its stderr:\n"
                 f"{self.log_path.read_text()}")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            fail(f"the emulator exited with {self.process.returncode}; its stderr:\n"
                 f"{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        if self in _LIVE:
            _LIVE.remove(self)


_LIVE: list[Emulator] = []


def _die_with_parent() -> None:
    """In the emulator's process before exec: the kernel sends it SIGTERM
    when this script dies, even by SIGKILL, so no emulator is left behind."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def install_cleanup() -> None:
    """Stops any emulator still running when the script ends, fails or is
    interrupted (the shell wrappers' trap does the same for the shell)."""
    import atexit

    def stop_all() -> None:
        for emulator in list(_LIVE):
            emulator.stop()

    atexit.register(stop_all)

    def on_signal(number, _frame):
        stop_all()
        sys.exit(128 + number)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def counter_delta(before: dict, after: dict) -> dict:
    return {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}


def format_requests(delta: dict) -> str:
    """{"registerClient": 1, "createToken": 2} -> "5: registerClient 1, createToken 2"."""
    total = sum(delta.values())
    parts = ", ".join(f"{name} {count}" for name, count in delta.items())
    return f"{total} ({parts})" if parts else "0"


def build_emulator() -> Path:
    step("building the emulator: cargo build --release -p ssoflow-emulator (main workspace, not timed)")
    run_checked(["cargo", "build", "--release", "--quiet", "-p", "ssoflow-emulator"], cwd=REPO)
    return cargo_target_dir() / "release" / "ssoflow-emulator"


def cargo_target_dir() -> Path:
    """The main workspace's target directory (CARGO_TARGET_DIR respected)."""
    metadata = json.loads(run_checked(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=REPO, capture=True))
    return Path(metadata["target_directory"])


# ---------------------------------------------------------------- the report

def git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=REPO, text=True, capture_output=True)
    return result.stdout.strip() if result.returncode == 0 else ""


def commit_label() -> str:
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    # Uncommitted changes to tracked files, except the document these
    # scripts write (the second script to run would call the tree dirty).
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                  ":(exclude)docs/benchmarks.md")
    return f"{commit} (dirty)" if changed else commit


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def header(script: str, extra: list[str]) -> list[str]:
    """The lines every section starts with: when, where, which code."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rustc = run_checked(["rustc", "--version"], capture=True).strip()
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    note = os.environ.get("NOTE", "").strip()
    lines = [f"- **note: {note}**"] if note else []
    lines += [
        f"- date: {now}",
        f"- machine: {os.cpu_count()} CPUs (nproc {nproc()}), {cpu_model()}, "
        f"{platform.system()} {platform.release()}",
        f"- load average when the script started (1/5/15 min): {load}",
        f"- commit: {commit_label()}",
        f"- toolchain: {rustc}",
    ]
    return lines + [f"- {line}" for line in extra] + [f"- script: `{script}`"]


def nproc() -> str:
    return run_checked(["nproc"], capture=True).strip() if shutil.which("nproc") else "?"


def write_section(name: str, title: str, body: list[str]) -> None:
    """Replaces (or appends) the section between the `name` markers in
    docs/benchmarks.md, creating the file with an introduction if absent;
    everything outside the markers is kept as it is."""
    begin, end = f"<!-- {name} begin -->", f"<!-- {name} end -->"
    section = "\n".join([begin, f"## {title}", "", *body, end]) + "\n"
    text = DOC.read_text() if DOC.exists() else DOC_INTRO
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.parent.mkdir(parents=True, exist_ok=True)
    temporary = DOC.with_suffix(".md.tmp")
    temporary.write_text(text)
    os.replace(temporary, DOC)
    print(f"wrote the section '{title}' in {DOC.relative_to(REPO)}")


def table(headings: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines
