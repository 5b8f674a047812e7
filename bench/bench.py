#!/usr/bin/env python3
"""racehunt's benchmarks: one command, figures measured side by side in one run, written
to bench/RESULTS.md with the machine, versions and exact commands.

    ./bench/run.sh                 # everything
    ./bench/run.sh --only overhead # one section

Figures are ratios of things measured in the same invocation, interleaved (A, B, C, A, B,
C, ...) so that machine load hits every side alike; absolute times are context only.
Standard library only (Debian's python3).
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("RACEHUNT_BUILD_DIR", REPO / "build"))
RACEHUNT = str(BUILD / "racehunt")
PY = "/usr/bin/python3.11"


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, **kw)


def timed(argv, **kw):
    start = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       universal_newlines=True, **kw)
    elapsed = time.perf_counter() - start
    if p.returncode not in (0, 1):
        raise SystemExit("benchmark command failed (%d): %s\n%s" % (p.returncode, argv, p.stderr))
    return elapsed


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gxx = sh("g++ --version").stdout.splitlines()[0] if shutil.which("g++") else "?"
    return [
        ("date", datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")),
        ("cpu", "%s, %d cores" % (cpu, os.cpu_count())),
        ("memory", "%.0f GiB" % (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)),
        ("kernel", platform.release()),
        ("compiler", gxx),
        ("racehunt", sh([RACEHUNT, "--version"]).stdout.strip()),
        ("python", "%s (%s)" % (PY, sh([PY, "-c", "import sys; print(sys.version.split()[0])"]).stdout.strip())),
        ("load average at start", " ".join("%.2f" % x for x in os.getloadavg())),
    ]


def scenario(dir_, body, runs, extra=""):
    dir_.mkdir(parents=True, exist_ok=True)
    (dir_ / "w.py").write_text(body)
    (dir_ / "scenario.toml").write_text(
        '[workload]\nscript = "w.py"\npython = "%s"\ntimeout = "30s"\n%s[run]\nruns = %d\nseed = 1\n'
        % (PY, extra, runs))
    return dir_ / "scenario.toml"


def section_overhead(tmp, reps):
    """Per-run overhead of racehunt (profile none) against a plain shell loop of the same
    interpreter on a passing workload, and -j2 against -j1 throughput."""
    runs = 200
    s = scenario(tmp / "overhead", "pass\n", runs)
    loop = ["bash", "-c", 'for i in $(seq %d); do %s %s >/dev/null; done' % (runs, PY, tmp / "overhead" / "w.py")]
    rh1 = [RACEHUNT, "--profile", "none", "--runs", str(runs), "-j", "1", "--quiet", "--out", str(tmp / "o1"), str(s)]
    rh2 = [RACEHUNT, "--profile", "none", "--runs", str(runs), "-j", "2", "--quiet", "--out", str(tmp / "o2"), str(s)]
    t = {"loop": [], "rh1": [], "rh2": []}
    for _ in range(reps):
        t["loop"].append(timed(loop))
        t["rh1"].append(timed(rh1))
        t["rh2"].append(timed(rh2))
    med = {k: statistics.median(v) for k, v in t.items()}
    rows = [
        ("plain shell loop, %d runs" % runs, med["loop"], med["loop"] / runs * 1000),
        ("racehunt --profile none -j1", med["rh1"], med["rh1"] / runs * 1000),
        ("racehunt --profile none -j2", med["rh2"], med["rh2"] / runs * 1000),
    ]
    overhead = med["rh1"] / med["loop"]
    speedup = med["rh1"] / med["rh2"]
    lines = ["## Core: per-run overhead and parallel throughput (issue 2)", "",
             "A passing workload (`pass`), %d runs, medians of %d interleaved repetitions." % (runs, reps), "",
             "| command | wall s (median) | ms per run |", "|---|---|---|"]
    lines += ["| %s | %.2f | %.1f |" % r for r in rows]
    lines += ["", "| figure | measured | target |", "|---|---|---|",
              "| overhead: racehunt -j1 / plain loop | **%.2f×** | ≤ 1.10× |" % overhead,
              "| throughput: -j2 vs -j1 | **%.2f×** | ≥ 1.8× |" % speedup, "",
              "Commands:", "", "```",
              " ".join(loop), " ".join(rh1), " ".join(rh2), "```", ""]
    return lines, {"overhead": overhead, "j2_speedup": speedup}


SECTIONS = {"overhead": section_overhead}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", choices=sorted(SECTIONS), help="run only these sections")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions per measurement")
    ap.add_argument("--output", default=str(REPO / "bench" / "RESULTS.md"))
    args = ap.parse_args()
    names = args.only or list(SECTIONS)
    out = ["# racehunt benchmark results", "",
           "Written by `./bench/run.sh`; every figure below comes from the run that wrote this "
           "file. Ratios are measured side by side; rates swing with machine load.", "",
           "| machine | |", "|---|---|"]
    out += ["| %s | %s |" % kv for kv in machine()]
    out.append("")
    figures = {}
    with tempfile.TemporaryDirectory(prefix="racehunt-bench-") as d:
        for name in names:
            print("bench: %s ..." % name, file=sys.stderr)
            lines, figs = SECTIONS[name](Path(d), args.reps)
            out += lines
            figures[name] = figs
    Path(args.output).write_text("\n".join(out) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
