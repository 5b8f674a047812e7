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
    # The machine's own ceiling for two parallel runs: two plain loops of half the runs
    # each, side by side. On a VM whose two vCPUs do not give two cores' worth of work,
    # no runner can beat this.
    half = 'for i in $(seq %d); do %s %s >/dev/null; done' % (runs // 2, PY, tmp / "overhead" / "w.py")
    loop2 = ["bash", "-c", "(%s) & (%s) & wait" % (half, half)]
    t = {"loop": [], "loop2": [], "rh1": [], "rh2": []}
    for _ in range(reps):
        t["loop"].append(timed(loop))
        t["loop2"].append(timed(loop2))
        t["rh1"].append(timed(rh1))
        t["rh2"].append(timed(rh2))
    med = {k: statistics.median(v) for k, v in t.items()}
    rows = [
        ("plain shell loop, %d runs" % runs, med["loop"], med["loop"] / runs * 1000),
        ("two plain loops of %d runs in parallel" % (runs // 2), med["loop2"], med["loop2"] / runs * 1000),
        ("racehunt --profile none -j1", med["rh1"], med["rh1"] / runs * 1000),
        ("racehunt --profile none -j2", med["rh2"], med["rh2"] / runs * 1000),
    ]
    overhead = med["rh1"] / med["loop"]
    speedup = med["rh1"] / med["rh2"]
    ceiling = med["loop"] / med["loop2"]
    lines = ["## Core: per-run overhead and parallel throughput (issue 2)", "",
             "A passing workload (`pass`), %d runs, medians of %d interleaved repetitions." % (runs, reps), "",
             "| command | wall s (median) | ms per run |", "|---|---|---|"]
    lines += ["| %s | %.2f | %.1f |" % r for r in rows]
    lines += ["", "| figure | measured | target |", "|---|---|---|",
              "| overhead: racehunt -j1 / plain loop | **%.2f×** | ≤ 1.10× |" % overhead,
              "| throughput: -j2 vs -j1 | **%.2f×** | ≥ 1.8× |" % speedup,
              "| the machine's own parallel speed-up: two plain loops side by side vs one loop | %.2f× | |" % ceiling,
              "| racehunt -j2 wall time / two plain loops side by side | %.2f× | |" % (med["rh2"] / med["loop2"]), "",
              "When two plain loops side by side are no faster than one, the machine's two "
              "vCPUs do not give two cores' worth of work, and no runner can reach the -j2 "
              "target here; the last row says how close racehunt -j2 comes to what the "
              "machine can do in parallel.", "",
              "Commands:", "", "```",
              " ".join(loop), " ".join(loop2), " ".join(rh1), " ".join(rh2), "```", ""]
    return lines, {"overhead": overhead, "j2_speedup": speedup, "machine_ceiling": ceiling}


def wilson(k, n, z=1.96):
    if n == 0:
        return 0.0, 1.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / d
    return (0.0 if k == 0 else max(0.0, c - h)), (1.0 if k == n else min(1.0, c + h))


def campaign(scenario_path, profile, runs, out, python=PY, extra=(), jobs=2):
    argv = [RACEHUNT, str(scenario_path), "--profile", profile, "--runs", str(runs), "-j", str(jobs),
            "--quiet", "--seed", "1", "--python", python, "--out", str(out)] + list(extra)
    start = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, universal_newlines=True)
    wall = time.perf_counter() - start
    if p.returncode not in (0, 1):
        raise SystemExit("racehunt failed (%d): %s\n%s" % (p.returncode, " ".join(argv), p.stderr))
    recs = [json.loads(l) for l in (Path(out) / "results.jsonl").read_text().splitlines() if l.strip()]
    fails = sorted(r["run"] for r in recs if r["outcome"] != "pass")
    return {
        "runs": len(recs),
        "failures": len(fails),
        "first": (fails[0] + 1) if fails else None,
        "ms": statistics.mean(r["duration_ms"] for r in recs) if recs else 0,
        "wall": wall,
        "argv": argv,
    }


def racy_workloads():
    out = []
    for d in sorted((REPO / "bench" / "workloads").iterdir()):
        if d.is_dir() and not d.name.endswith("-fixed"):
            out.append(("bench/" + d.name, d / "scenario.toml"))
    for name in ("bank-lost-update", "lazy-singleton", "lock-order-deadlock", "worker-exception"):
        out.append(("scenarios/" + name, REPO / "scenarios" / name / "scenario.toml"))
    return out


def section_jitter(tmp, reps, runs=200):
    """Failure rate, runs to first failure and time per run of every racy workload under
    the three profiles (issue 3)."""
    lines = ["## Jitter profiles: failure rates on racy workloads (issue 3)", "",
             "Each cell: %d runs of `racehunt --profile P --runs %d -j 2 --seed 1`, Python %s. "
             "Rate with its 95%% Wilson interval; *first* = runs to the first failure "
             "(— when none); ms = mean run duration." % (runs, runs, PY), "",
             "| workload | none | default | aggressive | ms none / default / aggressive |",
             "|---|---|---|---|---|"]
    figs = {}
    found_default = 0
    none_below_5 = 0
    workloads = racy_workloads()
    for name, path in workloads:
        cells, ms = [], []
        for profile in ("none", "default", "aggressive"):
            r = campaign(path, profile, runs, tmp / ("j-" + name.replace("/", "_") + "-" + profile))
            lo, hi = wilson(r["failures"], r["runs"])
            cells.append("%.1f%% [%.1f–%.1f] first %s" % (100.0 * r["failures"] / r["runs"], 100 * lo, 100 * hi,
                                                         r["first"] or "—"))
            ms.append("%.0f" % r["ms"])
            figs[(name, profile)] = r
        if figs[(name, "default")]["failures"] > 0:
            found_default += 1
        if figs[(name, "none")]["failures"] < 0.05 * runs:
            none_below_5 += 1
        lines.append("| %s | %s | %s | %s | %s |" % (name, cells[0], cells[1], cells[2], " / ".join(ms)))
    lines += ["", "| target | measured |", "|---|---|",
              "| `default` fails every workload at least once in %d runs | %d of %d |" % (runs, found_default, len(workloads)),
              "| `none` fails in < 5%% of runs | %d of %d |" % (none_below_5, len(workloads)), ""]
    return lines, {"default_found": found_default, "none_below_5": none_below_5, "workloads": len(workloads)}


def section_shim_idle(tmp, reps):
    """Idle cost of the shim per interposed call: the same Google Benchmark binary run plain
    and with the shim preloaded but disabled (and enabled with p = 0)."""
    exe = BUILD / "bench" / "shim_bench"
    shim = BUILD / "libracehunt_shim.so"

    def run(env_extra):
        env = dict(os.environ, **env_extra)
        p = subprocess.run([str(exe), "--benchmark_format=json", "--benchmark_repetitions=%d" % max(3, reps * 3),
                            "--benchmark_report_aggregates_only=true", "--benchmark_min_time=0.2"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True, env=env)
        data = json.loads(p.stdout)
        return {b["run_name"]: b["cpu_time"] for b in data["benchmarks"] if b.get("aggregate_name") == "median"}

    plain = run({})
    idle = run({"LD_PRELOAD": str(shim), "RACEHUNT_SHIM": "enabled=0"})
    counting = run({"LD_PRELOAD": str(shim), "RACEHUNT_SHIM": "enabled=1:p=0"})
    lines = ["## Shim: cost per interposed call (issue 3)", "",
             "`bench/shim_bench` (Google Benchmark, median CPU ns per iteration; an iteration makes two "
             "interposed calls, `cond_signal` one), plain vs `LD_PRELOAD` of the shim with `enabled=0` "
             "(idle) and `enabled=1:p=0` (counting, no perturbation).", "",
             "| benchmark | plain | idle | counting | idle extra per call |", "|---|---|---|---|---|"]
    worst = 0.0
    for name in plain:
        calls = 1 if "cond_signal" in name else 2
        extra = (idle[name] - plain[name]) / calls
        worst = max(worst, extra)
        lines.append("| %s | %.1f | %.1f | %.1f | %.1f ns |" % (name, plain[name], idle[name], counting[name], extra))
    lines += ["", "| target | measured |", "|---|---|", "| idle shim < 25 ns per call | worst %.1f ns |" % worst, ""]
    return lines, {"idle_worst_ns": worst}


CPU_BOUND = """
def work(n):
    total = 0
    for i in range(n):
        total += i % 7
    return total
work(3000000)
"""


def section_focus_cost(tmp, reps):
    """Cost of Python yield points outside focus: a CPU-bound workload whose code is outside
    the focus, with yield probability 0.05, against no yield points at all."""
    lines = ["## Yield points: cost outside focus (issue 3)", "",
             "A CPU-bound loop (3 million iterations) in the workload; `yields.probability = 0.05`, "
             "`focus` names another file; compared with `yields.probability = 0`. Median of %d "
             "interleaved runs of `racehunt --runs 5 -j 1`." % max(3, reps), "",
             "| interpreter | mechanism | ms per run, no yields | ms per run, focus elsewhere | ratio |",
             "|---|---|---|---|---|"]
    figs = {}
    pythons = [("3.11 (Debian)", PY)]
    root = Path.home() / ".pyenv" / "versions"
    for v in ("3.8", "3.12", "3.13"):
        for d in sorted(root.glob(v + ".*")):
            pythons.append((d.name, str(d / "bin" / "python3")))
            break
    for label, py in pythons:
        d = tmp / ("focus-" + label.split()[0])
        d.mkdir(parents=True, exist_ok=True)
        (d / "w.py").write_text(CPU_BOUND)
        (d / "elsewhere.py").write_text("x = 1\n")
        base = '[workload]\nscript = "w.py"\npython = "%s"\ntimeout = "120s"\n[jitter]\nswitch_interval = "keep"\nshim = { probability = 0.0 }\n' % py
        (d / "off.toml").write_text(base + 'yields = { probability = 0.0 }\n[run]\nruns = 5\nseed = 1\n')
        (d / "on.toml").write_text(base + 'yields = { probability = 0.05, focus = ["elsewhere.py"] }\n[run]\nruns = 5\nseed = 1\n')
        t_off, t_on = [], []
        for _ in range(max(3, reps)):
            r = campaign(d / "off.toml", "default", 5, d / "o-off", python=py, jobs=1)
            t_off.append(r["ms"])
            r = campaign(d / "on.toml", "default", 5, d / "o-on", python=py, jobs=1)
            t_on.append(r["ms"])
        off, on = statistics.median(t_off), statistics.median(t_on)
        mech = "sys.monitoring" if label.startswith(("3.12", "3.13")) else "settrace"
        lines.append("| %s | %s | %.0f | %.0f | %.2f× |" % (label, mech, off, on, on / off))
        figs[label] = on / off
    worst_new = max([v for k, v in figs.items() if k.startswith(("3.12", "3.13"))] or [0])
    lines += ["", "| target | measured |", "|---|---|",
              "| outside-focus slowdown ≤ 1.10× on 3.12+ | worst %.2f× |" % worst_new, ""]
    return lines, figs


TREE_CHILD = (
    "import threading\n"
    "lock = threading.Lock()\n"
    "lock.acquire()\n"
    "def stuck():\n"
    "    lock.acquire()\n"
    "for i in range(2):\n"
    "    threading.Thread(target=stuck, name='stuck-%d' % i).start()\n"
)
TREE_WORKLOAD = (
    "import subprocess, sys\n"
    "CHILD = %r\n"
    "children = [subprocess.Popen([sys.executable, '-c', CHILD]) for _ in range(9)]\n"
    "for c in children:\n"
    "    c.wait()\n" % TREE_CHILD
)


def section_forensics(tmp, reps, runs=5):
    """Time from a hang's timeout to a complete merged dump and a clean tree, for a tree of
    10 Python processes (issue 4)."""
    d = tmp / "forensics"
    d.mkdir(parents=True, exist_ok=True)
    (d / "w.py").write_text(TREE_WORKLOAD)
    (d / "s.toml").write_text('[workload]\nscript = "w.py"\npython = "%s"\ntimeout = "2s"\n'
                              '[jitter]\nprofile = "none"\n[run]\nruns = %d\nseed = 1\n' % (PY, runs))
    out = d / "o"
    argv = [RACEHUNT, str(d / "s.toml"), "-j", "1", "--quiet", "--out", str(out)]
    timed(argv)
    recs = [json.loads(l) for l in (out / "results.jsonl").read_text().splitlines() if l.strip()]
    ms = sorted(r["counters"].get("hang_to_dump_ms", float("nan")) for r in recs)
    procs = [r["counters"].get("dumped_processes", 0) for r in recs]
    threads = []
    for r in recs:
        text = (Path(r["artifacts"]) / "dump.txt").read_text()
        threads.append(text.count('\n  thread "stuck-'))
    lines = ["## Forensics: from a hang's timeout to the merged dump (issue 4)", "",
             "A root Python process starts 9 Python children; each child's main thread ends "
             "while 2 threads stay stuck on a lock. Timeout 2 s, %d runs, `-j 1`. "
             "*hang→dump* is measured by racehunt itself (`counters.hang_to_dump_ms`): from the "
             "timeout to the dump signal answered, every process killed and reaped, and "
             "dump.txt written." % runs, "",
             "| figure | measured | target |", "|---|---|---|",
             "| hang→dump, median of %d runs | **%.0f ms** (min %.0f, max %.0f) | < 1000 ms |"
             % (runs, statistics.median(ms), ms[0], ms[-1]),
             "| processes in each dump | %s | 10 |" % ", ".join(str(p) for p in procs),
             "| stuck threads named in each dump | %s | 18 |" % ", ".join(str(t) for t in threads),
             "", "Command:", "", "```", " ".join(argv), "```", ""]
    return lines, {"hang_to_dump_ms": statistics.median(ms), "processes": procs}


SECTIONS = {"overhead": section_overhead, "jitter": section_jitter, "shim_idle": section_shim_idle,
            "focus_cost": section_focus_cost, "forensics": section_forensics}


SECTION_MARK = "<!-- bench section: "


def split_sections(text):
    """{name: lines} of a RESULTS.md written by this script (each section starts with a
    SECTION_MARK comment line)."""
    out, name = {}, None
    for line in text.splitlines():
        if line.startswith(SECTION_MARK):
            name = line[len(SECTION_MARK):].split(" ", 1)[0]
            out[name] = []
        if name is not None:
            out[name].append(line)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", choices=sorted(SECTIONS), help="run only these sections")
    ap.add_argument("--update", action="store_true",
                    help="keep the other sections of an existing RESULTS.md (each says when it was measured)")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions per measurement")
    ap.add_argument("--output", default=str(REPO / "bench" / "RESULTS.md"))
    args = ap.parse_args()
    names = args.only or list(SECTIONS)
    kept = {}
    if args.update and Path(args.output).exists():
        kept = split_sections(Path(args.output).read_text())
    machine_rows = machine()
    stamp = dict(machine_rows)["date"]
    out = ["# racehunt benchmark results", "",
           "Written by `./bench/run.sh`. Each section says when it was measured; within a "
           "section every figure comes from one run, and ratios are measured side by side. "
           "Rates swing with machine load.", "",
           "| machine (latest run) | |", "|---|---|"]
    out += ["| %s | %s |" % kv for kv in machine_rows]
    out.append("")
    figures = {}
    fresh = {}
    with tempfile.TemporaryDirectory(prefix="racehunt-bench-") as d:
        for name in names:
            print("bench: %s ..." % name, file=sys.stderr)
            lines, figs = SECTIONS[name](Path(d), args.reps)
            fresh[name] = ["%s%s measured %s -->" % (SECTION_MARK, name, stamp)] + lines
            figures[name] = figs
    for name in SECTIONS:
        if name in fresh:
            out += fresh[name]
        elif name in kept:
            out += kept[name]
    Path(args.output).write_text("\n".join(out) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
