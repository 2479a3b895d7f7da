"""ssoflow beside the official AWS SDK for Rust, in one run (issue 14, item 2).

Run through compare.sh. Builds the emulator (not timed), builds both
programs of this workspace from clean in release mode, counts their crates,
strips copies of their binaries, then runs each N times against one
emulator and reads each run's CPU time and peak RSS from the kernel
(wait4, in the launcher measure.c), and the requests it made from the emulator's counters. Prints
every figure with the ratio ssoflow / aws-sdk and writes the section
"compare.sh" of docs/benchmarks.md.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import (BENCH_DIR, REPO, Emulator, Measured, build_emulator, clean_env,
                      build_launcher, counter_delta, fail, format_requests, header, install_cleanup,
                      measure,
                      median, ratio, run_checked, step, table, verdict, write_section)

TARGET = BENCH_DIR / "target"
SCRATCH = TARGET / "compare-scratch"

# The aims of issue 14: ssoflow's figure at most this fraction of the SDK's.
AIM_BUILD = 1 / 5
AIM_CRATES = 1 / 3
AIM_BINARY = 1 / 5
AIM_CPU = 1 / 5
AIM_RSS = 1 / 3


@dataclass
class Program:
    side: str  # the column's name
    package: str  # the package and binary in this workspace
    build_s: float = 0.0
    compiled: int = 0  # crates cargo compiled in the clean build (build deps included)
    crates: int = 0  # unique packages in `cargo tree -e normal`, the program itself excluded
    binary_bytes: int = 0  # unstripped, as built
    stripped_bytes: int = 0
    runs: list[Measured] = field(default_factory=list)
    requests: list[tuple] = field(default_factory=list)  # per run: sorted counter deltas

    @property
    def target_dir(self) -> Path:
        return TARGET / f"compare-{self.side}"

    @property
    def binary(self) -> Path:
        return self.target_dir / "release" / self.package


PROGRAMS = [Program("ssoflow", "bench-ssoflow"), Program("aws-sdk", "bench-aws-sdk")]
# For scale, not compared: an empty Rust program under the same profile.
BASELINE = Program("baseline", "bench-baseline")
# Start and exit without work, per command: the medians of N runs.
FLOOR: dict[str, list[Measured]] = {}


def cargo(*args: str, target_dir: Path | None = None, capture: bool = False) -> str:
    env = dict(os.environ)
    if target_dir is not None:
        env["CARGO_TARGET_DIR"] = str(target_dir)
    return run_checked(["cargo", *args], cwd=BENCH_DIR, env=env, capture=capture)


def lock_digest() -> str:
    lock = BENCH_DIR / "Cargo.lock"
    return hashlib.sha256(lock.read_bytes()).hexdigest() if lock.exists() else ""


def locked_version(name: str) -> str:
    text = (BENCH_DIR / "Cargo.lock").read_text()
    found = re.search(r'name = "' + re.escape(name) + r'"\nversion = "([^"]+)"', text)
    return found.group(1) if found else "?"


def build(program: Program) -> None:
    """A clean release build, timed; nothing is downloaded (`--frozen`)."""
    shutil.rmtree(program.target_dir, ignore_errors=True)
    step(f"clean release build of {program.package} (timed)")
    env = dict(os.environ, CARGO_TARGET_DIR=str(program.target_dir))
    for wrapper in ("RUSTC_WRAPPER", "CARGO_BUILD_RUSTC_WRAPPER"):
        env.pop(wrapper, None)  # a compiler cache (sccache) would make it no clean build
    start = time.monotonic()
    result = subprocess.run(["cargo", "build", "--release", "--frozen", "-p", program.package],
                            cwd=BENCH_DIR, env=env, text=True, capture_output=True)
    program.build_s = time.monotonic() - start
    if result.returncode != 0:
        fail(f"the build of {program.package} exited with {result.returncode}:\n{result.stderr}")
    # cargo's progress (stderr): one "Compiling NAME vX" per package built.
    program.compiled = len(re.findall(r"^\s*Compiling ", result.stderr, re.M))
    print(f"   {program.build_s:.1f} s, {program.compiled} crates compiled")


def count_crates(program: Program) -> None:
    """Unique packages of the normal dependency graph (`cargo tree -e normal`:
    no build or dev dependencies; proc macros count, as they are built),
    without the program itself."""
    tree = cargo("tree", "--frozen", "-e", "normal", "-p", program.package,
                 "--prefix", "none", capture=True)
    packages = {re.sub(r" \(.*\)$", "", line.replace(" (*)", "")).strip()
                for line in tree.splitlines() if line.strip()}
    packages = {p for p in packages if not p.startswith(program.package + " ")}
    program.crates = len(packages)


def strip_copy(program: Program) -> None:
    stripped = program.target_dir / "stripped" / program.package
    stripped.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(program.binary, stripped)
    run_checked(["strip", str(stripped)])
    program.binary_bytes = program.binary.stat().st_size
    program.stripped_bytes = stripped.stat().st_size


def run_once(program: Program, emulator: Emulator, env: dict, record: bool) -> None:
    before = emulator.counters()
    run = measure([str(program.binary), emulator.url], env, SCRATCH / program.side,
                  f"{program.package} against the emulator")
    after = emulator.counters()
    emulator.check_alive()
    if record:
        program.runs.append(run)
        program.requests.append(tuple(counter_delta(before, after).items()))


def main() -> None:
    install_cleanup()
    build_launcher()
    runs = int(os.environ.get("N", "20"))
    if runs < 1:
        fail(f"N={runs}: give at least one run")
    for tool in ("cargo", "strip", "git"):
        if shutil.which(tool) is None:
            fail(f"{tool} is missing")

    emulator_binary = build_emulator()

    step("cargo fetch (downloads, if any, happen here, outside the timed builds)")
    digest = lock_digest()
    cargo("fetch")
    if lock_digest() != digest:
        print("   note: cargo fetch updated crates/bench/Cargo.lock (a path dependency changed); "
              "commit it with the figures")

    # REUSE_BUILDS=1: keep the binaries of the last run and time no build;
    # for trying the run phase only, so nothing is written to the document.
    reuse = os.environ.get("REUSE_BUILDS") == "1"
    for program in PROGRAMS:
        if not reuse:
            build(program)
        elif not program.binary.exists():
            fail(f"REUSE_BUILDS=1 but {program.binary} is missing: run without it once")
    if not reuse or not BASELINE.binary.exists():
        step("release build of bench-baseline, an empty program for scale (not timed)")
        cargo("build", "--release", "--frozen", "--quiet", "-p", BASELINE.package,
              target_dir=BASELINE.target_dir)
    for program in PROGRAMS:
        count_crates(program)
        strip_copy(program)
        print(f"   {program.package}: {program.crates} dependency crates, "
              f"{program.stripped_bytes / 1e6:.2f} MB stripped")

    step(f"running each program {runs} times against one emulator (auto-approve, interval 1 s)")
    shutil.rmtree(SCRATCH, ignore_errors=True)
    home = SCRATCH / "home"  # empty: neither program finds a ~/.aws to read
    home.mkdir(parents=True)
    env = clean_env(home)
    emulator = Emulator(emulator_binary, ["--auto-approve", "--interval", "1s", "--quiet"],
                        SCRATCH / "emulator.log")
    print(f"   emulator at {emulator.url}")
    for program in PROGRAMS:  # one warm-up run each (page cache, first connections)
        run_once(program, emulator, env, record=False)
    for index in range(runs):
        # Alternate who goes first, so drift in the machine's load hits both alike.
        order = PROGRAMS if index % 2 == 0 else list(reversed(PROGRAMS))
        for program in order:
            run_once(program, emulator, env, record=True)
        print(f"   run {index + 1}/{runs}", end="\r", flush=True)
    print()
    emulator.stop()

    step(f"for scale: {runs} runs each of start and exit without work")
    floor = {
        "an empty Rust program (`bench-baseline`)": ([str(BASELINE.binary)], 0),
        **{f"`{p.package}` without arguments (prints its usage)": ([str(p.binary)], 2)
           for p in PROGRAMS},
    }
    for _ in range(runs):
        for name, (argv, status) in floor.items():
            FLOOR.setdefault(name, []).append(
                measure(argv, env, SCRATCH / "floor", name, expect_status=status))

    report(runs, write=not reuse)


def requests_summary(program: Program) -> str:
    """The requests of a run, and how many runs differed from the usual."""
    tally = Counter(program.requests)
    usual, count = tally.most_common(1)[0]
    text = format_requests(dict(usual))
    if count != len(program.requests):
        text += f" in {count} of {len(program.requests)} runs"
    return text


def report(runs: int, write: bool) -> None:
    ours, theirs = PROGRAMS

    def cpu_ms(p: Program) -> list[float]:
        return [r.cpu_s * 1000 for r in p.runs]

    def rss_mib(p: Program) -> list[float]:
        return [r.max_rss_kib / 1024 for r in p.runs]

    def wall_s(p: Program) -> list[float]:
        return [r.wall_s for r in p.runs]

    def spread(values: list[float], digits: int) -> str:
        return (f"{median(values):.{digits}f} ({min(values):.{digits}f}–"
                f"{max(values):.{digits}f})")

    rows = []

    def row(measure_name: str, a: float, b: float, show_a: str, show_b: str,
            aim: float | None) -> None:
        value = ratio(a, b)
        rows.append([measure_name, show_a, show_b, f"{value:.2f}",
                     f"≤ {aim:.2f}" if aim else "—",
                     verdict(value, aim) if aim else "—"])

    if write:  # builds timed (not REUSE_BUILDS)
        row("clean release build, wall (s)", ours.build_s, theirs.build_s,
            f"{ours.build_s:.1f}", f"{theirs.build_s:.1f}", AIM_BUILD)
    row("dependency crates (`cargo tree -e normal`)", ours.crates, theirs.crates,
        str(ours.crates), str(theirs.crates), AIM_CRATES)
    if write:
        row("crates compiled in that build (build dependencies and proc macros too)",
            ours.compiled, theirs.compiled, str(ours.compiled), str(theirs.compiled), None)
    row("stripped binary (MB)", ours.stripped_bytes, theirs.stripped_bytes,
        f"{ours.stripped_bytes / 1e6:.2f}", f"{theirs.stripped_bytes / 1e6:.2f}", AIM_BINARY)
    row("CPU per run, user + sys (ms): median (min–max)", median(cpu_ms(ours)),
        median(cpu_ms(theirs)), spread(cpu_ms(ours), 1), spread(cpu_ms(theirs), 1), AIM_CPU)
    row("peak RSS per run (MiB): median (min–max)", median(rss_mib(ours)),
        median(rss_mib(theirs)), spread(rss_mib(ours), 1), spread(rss_mib(theirs), 1), AIM_RSS)
    faults = [[float(r.minor_faults) for r in p.runs] for p in (ours, theirs)]
    row("minor page faults per run: median", median(faults[0]), median(faults[1]),
        f"{median(faults[0]):.0f}", f"{median(faults[1]):.0f}", None)
    row("wall per run (s), mostly the 1 s poll interval: median", median(wall_s(ours)),
        median(wall_s(theirs)), f"{median(wall_s(ours)):.3f}", f"{median(wall_s(theirs)):.3f}",
        None)
    ours_requests = sum(dict(Counter(ours.requests).most_common(1)[0][0]).values())
    theirs_requests = sum(dict(Counter(theirs.requests).most_common(1)[0][0]).values())
    row("HTTP requests per run (emulator counters)", ours_requests, theirs_requests,
        requests_summary(ours), requests_summary(theirs), None)

    headings = ["measure", "ssoflow", "aws-sdk", "ratio ssoflow / aws-sdk", "aim", "verdict"]
    lines = table(headings, rows)
    scale = "For scale, what start and exit cost without the work (medians): " + "; ".join(
        f"{name} {median([r.cpu_s * 1000 for r in measured]):.1f} ms CPU, "
        f"{median([r.max_rss_kib / 1024 for r in measured]):.1f} MiB"
        for name, measured in FLOOR.items()) + "."
    print()
    print("\n".join(lines))
    print(scale)

    if not write:
        print("REUSE_BUILDS=1: no build was timed, so docs/benchmarks.md is left as it was")
        return
    body = header("crates/bench/compare.sh", [
        f"runs: N={runs} per program against one `ssoflow-emulator --auto-approve --interval 1s` "
        "(approves on the first poll), alternating which program goes first, after one "
        "warm-up run each",
        f"programs: `crates/bench/ssoflow-side` (ssoflow-blocking {locked_version('ssoflow-blocking')}, "
        f"ureq {locked_version('ureq')}) and `crates/bench/aws-sdk-side` (aws-sdk-ssooidc "
        f"{locked_version('aws-sdk-ssooidc')}, aws-config {locked_version('aws-config')}, tokio "
        f"{locked_version('tokio')} current-thread), each a device flow plus one refresh, "
        "cargo's default release profile"
        + (f", RUSTFLAGS={os.environ['RUSTFLAGS']!r}" if os.environ.get("RUSTFLAGS") else ""),
    ])
    body += ["", *lines, "", scale, "",
             "Builds: `cargo build --release --frozen` into an empty target directory each, "
             "dependencies already downloaded, on all cores. CPU time and peak RSS are the "
             "kernel's figures for each program's own process (wait4 in the small launcher "
             "`crates/bench/measure.c`, whose own address space is under 1 MiB: Linux counts "
             "the exec'ing process's memory into the peak RSS, so a child of Python would "
             "show at least 13 MiB), the emulator's excluded. A ratio at or below the aim "
             "meets it."]
    write_section("compare.sh", "ssoflow beside the AWS SDK for Rust: device flow plus one "
                  "refresh", body)


if __name__ == "__main__":
    main()
