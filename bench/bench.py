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

import corpus
from stats import wilson

REPO = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("RACEHUNT_BUILD_DIR", REPO / "build"))
RACEHUNT = str(BUILD / "racehunt")
PY = "/usr/bin/python3.11"
POWER_RUNS = 200
WORKLOAD_FILTER = []
CORPUS_RUNS, CORPUS_BLOCK, CORPUS_ENTRIES = 100, 20, []


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
    """Runs per second of a passing workload: a plain shell loop against racehunt `none`
    and `default`, at -j1 and -j2."""
    runs = 200
    s = scenario(tmp / "overhead", "pass\n", runs)
    w = tmp / "overhead" / "w.py"
    loop = ["bash", "-c", 'for i in $(seq %d); do %s %s >/dev/null; done' % (runs, PY, w)]
    # The machine's own ceiling for two parallel runs: two plain loops of half the runs
    # each, side by side. On a VM whose two vCPUs do not give two cores' worth of work,
    # no runner can beat this.
    half = 'for i in $(seq %d); do %s %s >/dev/null; done' % (runs // 2, PY, w)
    loop2 = ["bash", "-c", "(%s) & (%s) & wait" % (half, half)]
    cmds = {"loop": loop, "loop2": loop2}
    for profile in ("none", "default"):
        for j in (1, 2):
            cmds["%s-j%d" % (profile, j)] = [RACEHUNT, "--profile", profile, "--runs", str(runs), "-j", str(j),
                                             "--quiet", "--out", str(tmp / ("o-%s-%d" % (profile, j))), str(s)]
    t = {k: [] for k in cmds}
    for _ in range(reps):
        for k, argv in cmds.items():
            t[k].append(timed(argv))
    med = {k: statistics.median(v) for k, v in t.items()}
    labels = [("loop", "plain shell loop"), ("loop2", "two plain loops of %d runs side by side" % (runs // 2)),
              ("none-j1", "racehunt --profile none -j1"), ("none-j2", "racehunt --profile none -j2"),
              ("default-j1", "racehunt --profile default -j1"), ("default-j2", "racehunt --profile default -j2")]
    lines = ["## Cost: runs per second of a passing workload", "",
             "A passing workload (`pass`), %d runs per command, medians of %d interleaved repetitions." % (runs, reps), "",
             "| command | runs/s | ms per run | relative to the plain loop |", "|---|---|---|---|"]
    for k, label in labels:
        lines.append("| %s | %.1f | %.1f | %.2f× |" % (label, runs / med[k], med[k] / runs * 1000, med[k] / med["loop"]))
    overhead = med["none-j1"] / med["loop"]
    speedup = med["none-j1"] / med["none-j2"]
    ceiling = med["loop"] / med["loop2"]
    lines += ["", "| figure | measured | target |", "|---|---|---|",
              "| overhead: racehunt none -j1 / plain loop | **%.2f×** | ≤ 1.10× |" % overhead,
              "| throughput: none -j2 vs -j1 | **%.2f×** | ≥ 1.8× |" % speedup,
              "| the machine's own parallel speed-up: two plain loops side by side vs one loop | %.2f× | |" % ceiling,
              "| racehunt none -j2 wall time / two plain loops side by side | %.2f× | |" % (med["none-j2"] / med["loop2"]),
              "| cost of the `default` portfolio on a passing run: default / none at -j1 | %.2f× | |" % (med["default-j1"] / med["none-j1"]),
              "",
              "When two plain loops side by side are no faster than one, the machine's two "
              "vCPUs do not give two cores' worth of work, and no runner can reach the -j2 "
              "target here; the fourth row says how close racehunt -j2 comes to what the "
              "machine can do in parallel.", "",
              "Commands:", "", "```"] + [" ".join(cmds[k]) for k, _ in labels] + ["```", ""]
    return lines, {"overhead": overhead, "j2_speedup": speedup, "machine_ceiling": ceiling,
                   "default_over_none": med["default-j1"] / med["none-j1"]}


def rss_samples(argv, period=0.25):
    """Run argv, sampling its VmRSS (KiB) every `period` seconds; returns (samples, peak KiB,
    wall s)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, universal_newlines=True)
    samples, peak = [], 0
    while proc.poll() is None:
        try:
            status = Path("/proc/%d/status" % proc.pid).read_text()
        except OSError:
            break
        fields = dict(l.split(":", 1) for l in status.splitlines() if ":" in l)
        if "VmRSS" in fields:
            samples.append((time.perf_counter() - start, int(fields["VmRSS"].split()[0])))
            peak = max(peak, int(fields.get("VmHWM", "0 kB").split()[0]))
        time.sleep(period)
    err = proc.stderr.read()
    if proc.wait() not in (0, 1):
        raise SystemExit("racehunt failed: %s\n%s" % (" ".join(argv), err))
    return samples, peak, time.perf_counter() - start


def section_rss(tmp, reps):
    """racehunt's own resident memory over long campaigns: a passing workload,
    and a racy one whose failures are bucketed and keep artifacts."""
    lines = ["## Cost: racehunt's memory over a long campaign", "",
             "racehunt's own VmRSS (not its runs'), sampled every 0.25 s. *early* = the median of "
             "the samples in the first tenth of the campaign, *late* = in the last tenth.", "",
             "| campaign | runs | wall s | RSS early | RSS late | peak (VmHWM) |", "|---|---|---|---|---|---|"]
    figs = {}
    pass_s = scenario(tmp / "rss-pass", "pass\n", 4000)
    cases = [("passing workload, profile default, -j 2", pass_s, 4000),
             ("scenarios/lazy-singleton (fails in most runs), profile default, -j 2",
              REPO / "scenarios" / "lazy-singleton" / "scenario.toml", 1500)]
    argvs = []
    for label, path, runs in cases:
        argv = [RACEHUNT, str(path), "--profile", "default", "--runs", str(runs), "-j", "2", "--quiet",
                "--seed", "1", "--python", PY, "--out", str(tmp / ("rss-out-%d" % len(argvs)))]
        argvs.append(argv)
        samples, peak, wall = rss_samples(argv)
        tenth = max(1, len(samples) // 10)
        early = statistics.median(v for _, v in samples[:tenth])
        late = statistics.median(v for _, v in samples[-tenth:])
        lines.append("| %s | %d | %.0f | %.1f MiB | %.1f MiB | %.1f MiB |" % (label, runs, wall, early / 1024, late / 1024, peak / 1024))
        figs[label] = {"early_kib": early, "late_kib": late, "peak_kib": peak}
    lines += ["", "Commands:", "", "```"] + [" ".join(a) for a in argvs] + ["```", ""]
    return lines, figs


def campaign(scenario_path, profile, runs, out, python=PY, extra=(), jobs=2, use_profile_flag=True):
    """racehunt on one scenario; `use_profile_flag=False` keeps the scenario's own [jitter]
    table (--profile replaces the whole table)."""
    argv = [RACEHUNT, str(scenario_path)] + (["--profile", profile] if use_profile_flag else []) + [
        "--runs", str(runs), "-j", str(jobs), "--quiet", "--seed", "1", "--python", python, "--out", str(out)] + list(extra)
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
        "records": recs,
    }


ADAPTER = REPO / "bench" / "adapters" / "runcheck.py"


def racy_workloads():
    out = []
    for d in sorted((REPO / "bench" / "workloads").iterdir()):
        if d.is_dir() and not d.name.endswith("-fixed"):
            out.append(("bench/" + d.name, d / "scenario.toml"))
    for name in ("bank-lost-update", "lazy-singleton", "lock-order-deadlock", "worker-exception"):
        out.append(("scenarios/" + name, REPO / "scenarios" / name / "scenario.toml"))
    return out


def seconds(duration):
    """A scenario duration ("3s", "500ms", "2m") in seconds."""
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if duration.endswith(suffix):
            return float(duration[:-len(suffix)]) * scale
    return float(duration)


def check_spec(scenario_path, dest):
    """The scenario's [workload] and [check] as the JSON the baselines' adapter reads."""
    import tomllib
    sc = tomllib.loads(Path(scenario_path).read_text())
    w, c = sc["workload"], sc.get("check", {})
    spec = {"script": str(Path(scenario_path).parent / w["script"]),
            "cwd": str(Path(scenario_path).parent / w.get("cwd", ".")),
            "exit_code": c.get("exit_code", 0),
            "thread_exceptions": c.get("thread_exceptions", "fail"),
            "invariants": c.get("invariants", []),
            "timeout_s": seconds(w.get("timeout", "10s"))}
    dest.write_text(json.dumps(spec))
    return spec


def first_and_count(failed_indices):
    failed = sorted(failed_indices)
    return len(failed), (failed[0] + 1 if failed else None)


def plain_campaign(spec_path, spec, runs, jobs=2):
    """(a) plain repetition: a fresh interpreter per run, `jobs` at a time (what
    `seq 200 | xargs -P2` would do), the same checks done by the adapter."""
    import concurrent.futures

    def one(i):
        try:
            p = subprocess.run([PY, str(ADAPTER), str(spec_path)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, universal_newlines=True, timeout=spec["timeout_s"])
            return i, p.returncode != 0
        except subprocess.TimeoutExpired:
            return i, True

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
        results = list(ex.map(one, range(runs)))
    wall = time.perf_counter() - start
    n, first = first_and_count(i for i, failed in results if failed)
    argv = ["seq", str(runs), "|", "xargs", "-P%d" % jobs, "-I{}", "timeout", "%gs" % spec["timeout_s"],
            PY, "bench/adapters/runcheck.py", "SPEC.json"]
    return {"runs": runs, "failures": n, "first": first, "wall": wall, "argv": argv}


TEST_FILE = """import json, sys
sys.path.insert(0, %r)
from runcheck import run_in_thread
SPEC = json.loads(%r)


def test_workload():
    failure = run_in_thread(SPEC)
    assert failure is None, failure
"""


def pytest_campaign(tmp, spec, runs, switch_interval=None, jobs=2):
    """(b) pytest-repeat + pytest-xdist: the workload wrapped as a test, repeated in-process
    by two workers; (c) the same with the switch interval fixed at 1e-6 for the whole
    session (what pytest-run-parallel does)."""
    import re
    import xml.etree.ElementTree as ET
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "test_w.py").write_text(TEST_FILE % (str(ADAPTER.parent), json.dumps(spec)))
    conftest = "import sys\nsys.setswitchinterval(%r)\n" % switch_interval if switch_interval else ""
    (tmp / "conftest.py").write_text(conftest)
    xml = tmp / "junit.xml"
    argv = [PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--count=%d" % runs, "-n", str(jobs),
            "--junitxml=%s" % xml, "test_w.py"]
    start = time.perf_counter()
    p = subprocess.run(argv, cwd=str(tmp), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    wall = time.perf_counter() - start
    if p.returncode not in (0, 1) or not xml.exists():
        raise SystemExit("pytest failed (%d): %s\n%s" % (p.returncode, " ".join(argv), p.stdout[-3000:]))
    failed, seen = [], 0
    for case in ET.parse(str(xml)).getroot().iter("testcase"):
        m = re.search(r"\[(\d+)-\d+\]", case.get("name", ""))
        if not m:
            continue
        seen += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(int(m.group(1)) - 1)
    n, first = first_and_count(failed)
    return {"runs": seen, "failures": n, "first": first, "wall": wall, "argv": argv}


APPROACHES = [
    ("plain", "(a) plain repetition"),
    ("pytest", "(b) pytest-repeat + xdist -n 2"),
    ("pytest-1us", "(c) pytest, switch interval 1e-6"),
    ("none", "(d) racehunt none"),
    ("default", "(e) racehunt default"),
    ("aggressive", "(f) racehunt aggressive"),
]


def cell(r):
    lo, hi = wilson(r["failures"], r["runs"])
    return "%.1f%% [%.1f–%.1f] first %s" % (100.0 * r["failures"] / r["runs"], 100 * lo, 100 * hi, r["first"] or "—")


def expected_runs(r):
    """Expected runs to the first failure, 1/rate; when nothing failed, 1 / the Wilson
    upper bound, a lower bound on the truth (returned with True)."""
    if r["failures"]:
        return r["runs"] / r["failures"], False
    return 1.0 / wilson(0, r["runs"])[1], True


def section_power(tmp, reps, runs=None):
    """Bug-finding power: every racy workload under the three baselines a user would
    otherwise run and racehunt's three profiles."""
    runs = runs or POWER_RUNS
    workloads = filtered(racy_workloads())
    lines = ["## Bug-finding power: racehunt against what users would otherwise run", "",
             "Each cell: %d runs of one approach on one racy workload, Python %s, two runs at a "
             "time; failure rate with its 95%% Wilson interval, *first* = runs to the first "
             "failure (— when none in %d). The approaches, all with the same checks "
             "(`bench/adapters/runcheck.py` does by hand what racehunt's `[check]` does: exit "
             "status, exceptions in any thread, the invariants, the time limit):" % (runs, PY, runs), "",
             "- (a) plain repetition: a fresh interpreter per run (`python runcheck.py SPEC`), two at a time.",
             "- (b) the workload wrapped as a test, `pytest --count=%d -n 2` (pytest-repeat + pytest-xdist, "
             "Debian packages): repeated inside two worker processes; a run that passes its time limit "
             "is abandoned as a hang." % runs,
             "- (c) as (b) with `sys.setswitchinterval(1e-6)` in conftest.py, what pytest-run-parallel does.",
             "- (d)–(f) `racehunt --profile none|default|aggressive --runs %d -j 2 --seed 1`." % runs, "",
             "| workload | " + " | ".join(label for _, label in APPROACHES) + " |",
             "|---|" + "---|" * len(APPROACHES)]
    figs = {}
    for name, path in workloads:
        key = name.replace("/", "_")
        spec_path = tmp / ("spec-" + key + ".json")
        spec = check_spec(path, spec_path)
        row = {}
        row["plain"] = plain_campaign(spec_path, spec, runs)
        row["pytest"] = pytest_campaign(tmp / ("pt-" + key), spec, runs)
        row["pytest-1us"] = pytest_campaign(tmp / ("pt1-" + key), spec, runs, switch_interval=1e-6)
        for profile in ("none", "default", "aggressive"):
            row[profile] = campaign(path, profile, runs, tmp / ("p-" + key + "-" + profile))
        figs[name] = row
        lines.append("| %s | %s |" % (name, " | ".join(cell(row[a]) for a, _ in APPROACHES)))
        print("bench: power %s: %s" % (name, ", ".join("%s %d/%d" % (a, row[a]["failures"], row[a]["runs"])
                                                        for a, _ in APPROACHES)), file=sys.stderr)
    # Summary: share found, and how much sooner racehunt default finds each race.
    found = {a: sum(1 for w in figs.values() if w[a]["failures"]) for a, _ in APPROACHES}
    measured, expected = [], []
    censored_m = censored_e = False
    for w in figs.values():
        base, rh = w["plain"], w["default"]
        b_first = base["first"] or (base["runs"] + 1)
        censored_m |= base["first"] is None
        if rh["first"]:
            measured.append(b_first / rh["first"])
        b_exp, b_cens = expected_runs(base)
        r_exp, _ = expected_runs(rh)
        censored_e |= b_cens
        expected.append(b_exp / r_exp)
    med_m = statistics.median(measured) if measured else float("nan")
    med_e = statistics.median(expected) if expected else float("nan")
    ge = lambda c: "≥ " if c else ""
    lines += ["", "| approach | workloads failed at least once in %d runs | total wall s |" % runs, "|---|---|---|"]
    for a, label in APPROACHES:
        lines.append("| %s | %d of %d | %.0f |" % (label, found[a], len(figs), sum(w[a]["wall"] for w in figs.values())))
    lines += ["", "| figure | measured | target |", "|---|---|---|",
              "| racehunt `default` fails every workload within %d runs | %d of %d | all |" % (runs, found["default"], len(figs)),
              "| median ratio of runs to first failure, plain / racehunt `default` | **%s%.0f×** | ≥ 10× |" % (ge(censored_m), med_m),
              "| median ratio of expected runs to first failure (1/rate), plain / racehunt `default` | %s%.0f× | |" % (ge(censored_e), med_e),
              "",
              "When plain repetition never failed in %d runs, its runs to first failure is counted "
              "as %d and its expected runs as 1 / the upper end of its interval, so both ratios are "
              "lower bounds (marked ≥)." % (runs, runs + 1), "",
              "Commands (per workload; SPEC.json is the scenario's checks as JSON):", "", "```"]
    any_row = next(iter(figs.values())) if figs else None
    if any_row:
        for a, _ in APPROACHES:
            lines.append(" ".join(str(x) for x in any_row[a]["argv"]))
    lines += ["```", ""]
    summary = {"found": found, "median_first_ratio": med_m, "median_expected_ratio": med_e,
               "rows": {n: {a: (w[a]["failures"], w[a]["runs"], w[a]["first"]) for a, _ in APPROACHES}
                        for n, w in figs.items()}}
    return lines, summary


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
    lines = ["## Shim: cost per interposed call", "",
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
    lines = ["## Yield points: cost outside focus", "",
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
    10 Python processes."""
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
    lines = ["## Forensics: from a hang's timeout to the merged dump", "",
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


PYENV = Path(os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))) / "versions"


def pyenv_python(prefix):
    """The newest pyenv build whose version starts with `prefix` ("3.12"), or None."""
    found = sorted(PYENV.glob(prefix + ".*"), key=lambda d: [int(x) for x in d.name.split(".") if x.isdigit()])
    return str(found[-1] / "bin" / "python3") if found else None


# Parts of CPython's own regression suite, as shipped with the pyenv builds here, that pass
# normally and finish in a few seconds; each runs as `python -m unittest CLASSES` with the
# Python yield points focused on the module under test and on the test itself.
CPYTHON_SUITES = [
    ("test_queue: Queue and SimpleQueue, C and Python", "3.12",
     ["test.test_queue.CQueueTest", "test.test_queue.PyQueueTest",
      "test.test_queue.CSimpleQueueTest", "test.test_queue.PySimpleQueueTest"],
     ["queue", "test.test_queue"]),
    ("test_threading: locks and RLocks", "3.12",
     ["test.test_threading.LockTests", "test.test_threading.PyRLockTests", "test.test_threading.CRLockTests"],
     ["threading", "test.lock_tests", "test.test_threading"]),
    ("test_threading: Event, Condition, Semaphore, Barrier", "3.13",
     ["test.test_threading.EventTests", "test.test_threading.ConditionTests",
      "test.test_threading.SemaphoreTests", "test.test_threading.BoundedSemaphoreTests",
      "test.test_threading.BarrierTests"],
     ["threading", "test.lock_tests", "test.test_threading"]),
    ("test_concurrent_futures: thread pool, as_completed, shutdown, Future", "3.13",
     ["test.test_concurrent_futures.test_as_completed.ThreadPoolAsCompletedTest",
      "test.test_concurrent_futures.test_shutdown.ThreadPoolShutdownTest",
      "test.test_concurrent_futures.test_future.FutureTests"],
     ["concurrent.futures", "test.test_concurrent_futures"]),
    ("test_thread and test_threading_local", "3.11",
     ["test.test_thread", "test.test_threading_local"],
     ["_threading_local", "test.test_thread", "test.test_threading_local"]),
    ("test_threading: locks and Condition on 3.8 (settrace yield points)", "3.8",
     ["test.test_threading.LockTests", "test.test_threading.PyRLockTests",
      "test.test_threading.CRLockTests", "test.test_threading.ConditionTests"],
     ["threading", "test.lock_tests", "test.test_threading"]),
]
AUDIT_TWIN_RUNS = 100
AUDIT_SUITE_RUNS = 50


def correct_twins():
    out = [("bench/" + d.name, d / "scenario.toml")
           for d in sorted((REPO / "bench" / "workloads").iterdir()) if d.is_dir() and d.name.endswith("-fixed")]
    out += [("scenarios/" + d.name, d / "scenario.toml")
            for d in sorted((REPO / "scenarios").iterdir())
            if d.is_dir() and (d.name.endswith("-fixed") or d.name == "bank-locked")]
    return out


def audit_campaign(path, runs, out, python=PY):
    r = campaign(path, "default", runs, out, python=python, use_profile_flag=False)
    summary = json.loads((Path(out) / "summary.json").read_text())["scenarios"][0]
    r["signatures"] = summary["signatures"]
    return r


def section_audit(tmp, reps):
    """False alarms: the correct twin of every racy workload, and parts of CPython's own
    regression suite, under racehunt `default`. Outputs are kept in
    build/bench-audit/ so that every failure can be read and replayed."""
    keep = BUILD / "bench-audit"
    shutil.rmtree(str(keep), ignore_errors=True)
    keep.mkdir(parents=True)
    lines = ["## False-alarm audit: correct code under racehunt `default`", "",
             "Every failure here is either a real finding or a racehunt bug; each one is written up in "
             "`bench/AUDIT.md`. Correct twins: %d runs each; CPython suites: %d runs each of "
             "`python -m unittest CLASSES` with `thread_exceptions = \"ignore\"` (the suites raise in "
             "threads on purpose and check that themselves) and yield points focused on the module "
             "under test. All with `-j 2 --seed 1`; outputs in build/bench-audit/." % (AUDIT_TWIN_RUNS, AUDIT_SUITE_RUNS), "",
             "| code | interpreter | runs | pass | not pass | mean ms per run |", "|---|---|---|---|---|---|"]
    rows, failures = [], []
    for name, path in correct_twins():
        r = audit_campaign(path, AUDIT_TWIN_RUNS, keep / name.replace("/", "_"))
        rows.append((name, PY, r))
    for label, version, classes, focus in CPYTHON_SUITES:
        py = pyenv_python(version)
        if not py:
            lines.append("| %s | %s not installed | | | | |" % (label, version))
            continue
        key = "cpython-" + label.split(":")[0].split()[0] + "-" + version + "-" + str(len(rows))
        d = tmp / key
        d.mkdir(parents=True, exist_ok=True)
        (d / "scenario.toml").write_text(
            'name = "%s"\n[workload]\nmodule = "unittest"\nargs = %s\npython = "%s"\ntimeout = "120s"\n'
            '[jitter]\nprofile = "default"\nyields = { focus = %s }\n'
            '[check]\nexit_code = 0\nthread_exceptions = "ignore"\nleaked_threads = "warn"\n'
            '[run]\nruns = %d\nseed = 1\n' % (key, json.dumps(classes), py, json.dumps(focus), AUDIT_SUITE_RUNS))
        shutil.copy(str(d / "scenario.toml"), str(keep / (key + ".toml")))
        r = audit_campaign(d / "scenario.toml", AUDIT_SUITE_RUNS, keep / key, python=py)
        rows.append(("CPython " + label, py, r))
    total_runs = total_fail = 0
    for name, py, r in rows:
        total_runs += r["runs"]
        total_fail += r["failures"]
        lines.append("| %s | %s | %d | %d | %d | %.0f |" % (name, py, r["runs"], r["runs"] - r["failures"], r["failures"], r["ms"]))
        for sig in r["signatures"]:
            failures.append((name, sig))
        print("bench: audit %s: %d/%d not pass" % (name, r["failures"], r["runs"]), file=sys.stderr)
    lines += ["", "%d runs in all, %d not passing." % (total_runs, total_fail), ""]
    if failures:
        lines += ["| code | signature | count | first seed | replay |", "|---|---|---|---|---|"]
        for name, sig in failures:
            lines.append("| %s | `%s` | %d | %s | `%s` |" % (name, sig["signature"], sig["count"], sig["first_seed"], sig["replay"]))
        lines.append("")
    lines += ["Commands: `racehunt SCENARIO --runs N -j 2 --quiet --seed 1 --python PY --out DIR` for each "
              "twin's scenario.toml and for the generated CPython scenarios (copied to build/bench-audit/*.toml).", ""]
    return lines, {"runs": total_runs, "not_pass": total_fail,
                   "failures": [(n, s["signature"], s["count"]) for n, s in failures]}


def variant(scenario_path, dest, jitter):
    """A copy of a scenario with its [jitter] table replaced, written to `dest`; the workload
    keeps running from its own directory."""
    import re
    src = Path(scenario_path)
    text = src.read_text()
    text = re.sub(r"(?ms)^\[jitter\].*?(?=^\[|\Z)", "", text)
    text = re.sub(r'(?m)^script = "([^"]+)"', lambda m: "script = %s" % json.dumps(str(src.parent / m.group(1))), text)
    text = re.sub(r"(?m)^\[workload\]\n", "[workload]\ncwd = %s\n" % json.dumps(str(src.parent)), text, count=1)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text + "\n[jitter]\n" + jitter + "\n")
    return dest


def filtered(workloads):
    """`--workload` narrows a section to some workloads (for trying it out)."""
    return [w for w in workloads if not WORKLOAD_FILTER or any(f in w[0] for f in WORKLOAD_FILTER)]


MINIMIZE_BUDGET = "120s"


def section_minimize(tmp, reps):
    """`racehunt minimize` on every racy workload's first failing seed: wall time,
    size of the result, and how often the result reproduces."""
    import re
    lines = ["## Minimization: from a failing seed to the perturbations that matter", "",
             "For each racy workload: `racehunt SCENARIO --profile default --runs 100 -j 2 --seed 1` "
             "finds the first failing run; then `racehunt minimize SCENARIO --seed RUNSEED -j 2 "
             "--time-budget %s` shrinks its perturbations (candidates judged at the default 3 of 5, the "
             "result measured over 20 runs). Python %s." % (MINIMIZE_BUDGET, PY), "",
             "| workload | failure | perturbations before | after | reproduces | candidates | runs | wall s |",
             "|---|---|---|---|---|---|---|---|"]
    figs = {}
    walls, sizes = [], []
    argv = None
    for name, path in filtered(racy_workloads()):
        key = name.replace("/", "_")
        hunt = tmp / ("min-hunt-" + key)
        r = campaign(path, "default", 100, hunt)
        recs = [json.loads(l) for l in (hunt / "results.jsonl").read_text().splitlines() if l.strip()]
        failing = [x for x in recs if x["outcome"] != "pass"]
        if not failing:
            lines.append("| %s | no failure in 100 runs | | | | | | |" % name)
            continue
        seed = failing[0]["seed"]
        argv = [RACEHUNT, "minimize", str(path), "--seed", seed, "-j", "2", "--time-budget", MINIMIZE_BUDGET,
                "--python", PY, "--profile", "default", "--out", str(tmp / ("min-" + key))]
        start = time.perf_counter()
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        wall = time.perf_counter() - start
        out = p.stdout
        m = re.search(r"^minimal: (\d+) perturbation\(s\), reproduces (\d+)/(\d+)", out, re.M)
        failure = re.search(r"^  failure: (.*)$", out, re.M)
        before = re.search(r"started from (.*?); (\d+) candidate\(s\) tested in \d+ s, (\d+) run", out)
        if not m:
            lines.append("| %s | minimize exited %d: %s | | | | | | %.0f |" % (
                name, p.returncode, (out.strip().splitlines() or ["?"])[-1], wall))
            continue
        size, k, n = int(m.group(1)), int(m.group(2)), int(m.group(3))
        complete = "\nminimal set:" in out
        walls.append(wall)
        sizes.append(size)
        figs[name] = {"seed": seed, "size": size, "reproduces": [k, n], "wall": wall, "complete": complete}
        lines.append("| %s | `%s` | %s | %d%s | %d/%d | %s | %s | %.0f |" % (
            name, failure.group(1) if failure else "?", before.group(1) if before else "?", size,
            "" if complete else " (budget ran out)", k, n, before.group(2) if before else "?",
            before.group(3) if before else "?", wall))
        print("bench: minimize %s: %d perturbation(s), %d/%d, %.0f s" % (name, size, k, n, wall), file=sys.stderr)
    within = sum(1 for n, f in figs.items() if f["wall"] <= 60 and f["size"] <= 3)
    lines += ["", "| figure | measured | target |", "|---|---|---|",
              "| workloads minimized to ≤ 3 perturbations within 60 s | %d of %d | all |" % (within, len(figs)),
              "| median wall time | %.0f s | ≤ 60 s |" % (statistics.median(walls) if walls else float("nan")),
              "| largest result | %s | ≤ 3 |" % (max(sizes) if sizes else "—"), "",
              "A count of 0 means the failure did not need any perturbation: it fails on its own in 3 "
              "of 5 runs.", "", "Command (per workload):", "", "```", " ".join(argv or []), "```", ""]
    figs["within_target"] = within
    return lines, figs


CONTROLLED = 'mode = "controlled"\nstrategy = "%s"'


def section_controlled(tmp, reps):
    """Controlled mode against noise mode: runs to the first failure on the racy
    workloads (pct, random, noise default), and the cost per run on their correct twins."""
    runs = 100
    lines = ["## Controlled mode against noise mode", "",
             "Racy workloads, %d runs each, `-j 2 --seed 1`, Python %s: the scenario with `[jitter] mode = "
             "\"controlled\"` and strategy `pct` (depth 3) or `random`, against noise mode's `default` profile. "
             "Each cell: failures / runs, first = runs to the first failure." % (runs, PY), "",
             "| workload | controlled pct | controlled random | noise default |", "|---|---|---|---|"]
    figs = {"power": {}, "cost": {}}
    found = {"pct": 0, "random": 0, "default": 0}
    argv = []
    for name, path in filtered(racy_workloads()):
        key = name.replace("/", "_")
        row = {}
        for strategy in ("pct", "random"):
            v = variant(path, tmp / ("ctl-" + key + "-" + strategy) / "scenario.toml", CONTROLLED % strategy)
            row[strategy] = campaign(v, None, runs, tmp / ("ctl-out-" + key + "-" + strategy), use_profile_flag=False)
        row["default"] = campaign(path, "default", runs, tmp / ("ctl-noise-" + key))
        for a in found:
            found[a] += 1 if row[a]["failures"] else 0
        argv = [row["pct"]["argv"], row["default"]["argv"]]
        figs["power"][name] = {a: (row[a]["failures"], row[a]["runs"], row[a]["first"]) for a in row}
        lines.append("| %s | %s |" % (name, " | ".join("%d/%d, first %s" % (row[a]["failures"], row[a]["runs"], row[a]["first"] or "—")
                                                     for a in ("pct", "random", "default"))))
        print("bench: controlled %s: %s" % (name, figs["power"][name]), file=sys.stderr)
    lines += ["", "Workloads failed at least once: pct %d, random %d, noise default %d of %d." % (
        found["pct"], found["random"], found["default"], len(figs["power"])), "",
        "Commands (per workload; the controlled scenario is the original with its [jitter] table "
        "replaced and `cwd` set to the original's directory):", "", "```"] + \
        [" ".join(str(x) for x in a) for a in argv] + ["```", ""]
    return lines, figs


def section_controlled_cost(tmp, reps):
    """The cost of controlled mode per run on the correct twins, against noise mode,
    and whether controlled mode ever fails correct code."""
    figs = {"cost": {}}
    lines = ["## Controlled mode: cost per run, and correct code", ""]
    lines += ["Cost: the correct twins (which pass every run), 20 runs each, mean wall time per run; "
              "ratios against noise `default` measured in the same pass.", "",
              "| correct twin | none ms | default ms | controlled pct ms | controlled / default |", "|---|---|---|---|---|"]
    ratios = []
    for name, path in filtered(correct_twins()):
        key = name.replace("/", "_")
        v = variant(path, tmp / ("ctlc-" + key) / "scenario.toml", CONTROLLED % "pct")
        ctl = campaign(v, None, 20, tmp / ("ctlc-out-" + key), use_profile_flag=False)
        dflt = campaign(path, "default", 20, tmp / ("ctlc-dflt-" + key))
        none = campaign(path, "none", 20, tmp / ("ctlc-none-" + key))
        ratio = ctl["ms"] / dflt["ms"] if dflt["ms"] else float("nan")
        ratios.append(ratio)
        figs["cost"][name] = {"none": none["ms"], "default": dflt["ms"], "controlled": ctl["ms"],
                              "controlled_failures": ctl["failures"]}
        lines.append("| %s | %.0f | %.0f | %.0f%s | %.2f× |" % (name, none["ms"], dflt["ms"], ctl["ms"],
                                                           " (%d failed!)" % ctl["failures"] if ctl["failures"] else "", ratio))
    failed = sum(c["controlled_failures"] for c in figs["cost"].values())
    lines += ["", "Median slowdown of controlled mode against noise `default`: %.2f× (range %.2f–%.2f×). "
              "Correct twins failed under controlled mode: %d of %d runs." % (
                  statistics.median(ratios), min(ratios), max(ratios), failed, 20 * len(ratios)) if ratios else "",
              "", "Commands: as in the section above, with `--runs 20` and each twin's scenario.", ""]
    figs["median_slowdown"] = statistics.median(ratios) if ratios else None
    figs["controlled_failures"] = failed
    return lines, figs


MERGE_LINES = 1000000
SCALE_RUNS = 100000


def section_scale(tmp, reps):
    """`racehunt merge` over a million result lines, and racehunt's own memory over
    a 100,000-run campaign of a trivial workload."""
    import random
    lines = ["## Scale: merging a million results, and a 100,000-run campaign", ""]
    # Real record lines to copy: one campaign with failures and passes, default profile.
    seed_dir = tmp / "scale-seed"
    sc = REPO / "scenarios" / "bank-lost-update" / "scenario.toml"
    campaign(sc, "default", 40, seed_dir)
    proto = [json.loads(l) for l in (seed_dir / "results.jsonl").read_text().splitlines() if l.strip()]
    passing = [r for r in proto if r["outcome"] == "pass"] or proto
    failing = [r for r in proto if r["outcome"] != "pass"] or proto
    shards = 4
    files = [tmp / ("merge-shard-%d.jsonl" % k) for k in range(shards)]
    handles = [open(str(f), "w") for f in files]
    rng = random.Random(1)
    total_bytes = 0
    for i in range(MERGE_LINES):
        r = dict(rng.choice(failing if i % 25 == 0 else passing))  # 4% failures
        r["run"] = i
        r["seed"] = "%016x" % rng.getrandbits(64)
        r["planned"] = MERGE_LINES
        r["campaign_seed"] = 1
        line = json.dumps(r, separators=(",", ":")) + "\n"
        total_bytes += len(line)
        handles[i % shards].write(line)
    for h in handles:
        h.close()
    argv = [RACEHUNT, "merge"] + [str(f) for f in files] + ["--out", str(tmp / "merged"), "--quiet",
                                                              "--junit", str(tmp / "merged.xml")]
    rows = []
    for rep in range(max(1, reps)):
        t0 = time.perf_counter()
        sh("cat %s > /dev/null" % " ".join(str(f) for f in files))
        cat_s = time.perf_counter() - t0
        samples, peak, wall = rss_samples(argv, period=0.1)
        rows.append((wall, cat_s, peak))
    wall = statistics.median(r[0] for r in rows)
    cat_s = statistics.median(r[1] for r in rows)
    peak = max(r[2] for r in rows)
    merged = json.loads((tmp / "merged" / "summary.json").read_text())["scenarios"][0]
    lines += ["`racehunt merge` of %d shard files holding %d result lines (%.0f MiB; real lines of the "
              "bank-lost-update example, run index and seed rewritten, 4%% failing), %d repetitions:"
              % (shards, MERGE_LINES, total_bytes / 2**20, len(rows)), "",
              "| figure | measured |", "|---|---|",
              "| wall time (median) | %.1f s (%.0f lines/s) |" % (wall, MERGE_LINES / wall),
              "| reading the same files with `cat` (median) | %.2f s (merge / cat = %.0f×) |" % (cat_s, wall / cat_s),
              "| racehunt's peak RSS (VmHWM) | %.1f MiB |" % (peak / 1024),
              "| runs merged / missing / duplicated | %d / %d / %d |" % (merged["runs"], merged["missing_runs"], merged["duplicate_runs"]),
              "", "Command: `%s`" % " ".join(argv).replace(str(tmp), "$TMP"), ""]
    figs = {"merge_wall_s": wall, "merge_peak_kib": peak, "cat_s": cat_s, "bytes": total_bytes}

    # A long campaign: the trivial workload is a command, /bin/true, so racehunt's own cost
    # dominates.
    d = tmp / "scale-true"
    d.mkdir()
    (d / "scenario.toml").write_text('name = "true"\n[workload]\ncommand = ["/bin/true"]\ntimeout = "10s"\n'
                                     '[jitter]\nprofile = "none"\n[run]\nruns = %d\nseed = 1\n' % SCALE_RUNS)
    argv = [RACEHUNT, str(d / "scenario.toml"), "-j", "2", "--quiet", "--out", str(tmp / "scale-out")]
    samples, peak, wall = rss_samples(argv, period=1.0)
    tenth = max(1, len(samples) // 10)
    early = statistics.median(v for _, v in samples[:tenth])
    late = statistics.median(v for _, v in samples[-tenth:])
    runs = sum(1 for _ in open(str(tmp / "scale-out" / "results.jsonl")))
    lines += ["racehunt's own VmRSS over a %d-run campaign of `command = [\"/bin/true\"]` (profile none, -j 2), "
              "sampled every second; *early*/*late* = medians of the first and last tenth of the samples:" % SCALE_RUNS, "",
              "| runs | wall s | RSS early | RSS late | peak (VmHWM) | target |", "|---|---|---|---|---|---|",
              "| %d | %.0f | %.1f MiB | %.1f MiB | %.1f MiB | flat, < 50 MB |" % (runs, wall, early / 1024, late / 1024, peak / 1024),
              "", "Command: `%s`" % " ".join(argv).replace(str(tmp), "$TMP"), ""]
    figs.update({"campaign_runs": runs, "campaign_early_kib": early, "campaign_late_kib": late,
                 "campaign_peak_kib": peak, "campaign_wall_s": wall})
    return lines, figs


def section_startup(tmp, reps):
    """What the shim costs a Python process's start-up when it is armed late (the
    default: from the workload's start) and when it is armed at load (`shim.startup`)."""
    runs = 200
    cases = [("shim off", 'switch_interval = "keep"\nshim = { probability = 0.0 }\nyields = { probability = 0.0 }'),
             ("shim p=0.05, armed late (default)", 'switch_interval = "keep"\nshim = { probability = 0.05 }\nyields = { probability = 0.0 }'),
             ("shim p=0.05, armed at load (startup = true)",
              'switch_interval = "keep"\nshim = { probability = 0.05, startup = true }\nyields = { probability = 0.0 }')]
    ms = {label: [] for label, _ in cases}
    argv = None
    for rep in range(max(1, reps)):
        for i, (label, jitter) in enumerate(cases):
            d = tmp / ("startup-%d" % i)
            path = scenario(d, "pass\n", runs, extra="")
            text = path.read_text().replace("[run]", "[jitter]\n%s\n[run]" % jitter)
            path.write_text(text)
            out = tmp / ("startup-out-%d-%d" % (i, rep))
            r = campaign(path, None, runs, out, jobs=1, use_profile_flag=False)
            recs = [json.loads(l) for l in (out / "results.jsonl").read_text().splitlines() if l.strip()]
            ms[label].append(statistics.median(x["duration_ms"] for x in recs))
            argv = r["argv"]
    base = statistics.median(ms[cases[0][0]])
    lines = ["## Shim and interpreter start-up", "",
             "A no-op workload (`pass`), %d runs per case at -j 1, %d interleaved repetitions; the figure is "
             "the median run duration (spawn to exit of the Python process, as racehunt measures it), Python %s."
             % (runs, max(1, reps), PY), "",
             "| case | median ms per run | against shim off | target |", "|---|---|---|---|"]
    figs = {}
    for label, _ in cases:
        m = statistics.median(ms[label])
        figs[label] = m
        target = "< 1.05×" if "late" in label else ""
        lines.append("| %s | %.1f | %.3f× | %s |" % (label, m, m / base, target))
    lines += ["", "Command (per case; the scenario's [jitter] table as in the first column): `%s`"
              % " ".join(str(a) for a in argv).replace(str(tmp), "$TMP"), ""]
    return lines, figs


WRAPPER_WORKLOAD = """import threading
lock = threading.Lock()
n = 0
def work():
    global n
    for _ in range(1000):
        with lock:
            n += 1
ts = [threading.Thread(target=work) for _ in range(2)]
for t in ts: t.start()
for t in ts: t.join()
assert n == 2000
"""


def section_wrapper(tmp, reps):
    """`python = "python3"` found through pyenv's shim (a bash wrapper) against
    the interpreter it resolves to, named by path; and, for reference, a `command` that
    starts the wrapper in every run."""
    shim = Path(os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))) / "shims" / "python3"
    title = "## Interpreter wrappers: `python = \"python3\"` through pyenv's shim"
    if not shim.exists():
        return [title, "", "Not measured: pyenv's shim %s is not installed." % shim, ""], {}
    # Short campaigns, many of them, each round in a rotated order: load that drifts over
    # minutes then hits every case alike.
    runs, rounds = 20, 3 * max(1, reps)
    load = " ".join("%.2f" % x for x in os.getloadavg())
    d = tmp / "wrapper"
    d.mkdir(parents=True, exist_ok=True)
    (d / "w.py").write_text(WRAPPER_WORKLOAD)
    env = dict(os.environ, PATH="%s:%s" % (shim.parent, os.environ.get("PATH", "")))
    real = subprocess.run([str(shim), "-c", "import sys; print(sys.executable)"], cwd=str(d), env=env,
                          stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    head = '[workload]\n%s\ntimeout = "30s"\n[run]\nruns = %d\nseed = 1\n'
    cases = [("python3", 'script = "w.py"\npython = "python3"', "`python = \"python3\"` (pyenv's shim on PATH), resolved once"),
             ("real", 'script = "w.py"\npython = "%s"' % real, "`python = \"%s\"` (the interpreter it resolves to)" % real),
             ("command", 'command = ["python3", "w.py"]', "`command = [\"python3\", \"w.py\"]`: the wrapper runs in every run")]
    for name, body, _ in cases:
        (d / (name + ".toml")).write_text(head % (body, runs))
    ms = {name: [] for name, _, _ in cases}
    walls = {name: [] for name, _, _ in cases}
    header, argvs = "", {}
    for rep in range(rounds):
        for name, _, _ in cases[rep % len(cases):] + cases[:rep % len(cases)]:
            out = tmp / ("wrapper-out-%s-%d" % (name, rep))
            argv = [RACEHUNT, str(d / (name + ".toml")), "-j", "1", "--out", str(out)]
            start = time.perf_counter()
            p = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, universal_newlines=True)
            walls[name].append(time.perf_counter() - start)
            if p.returncode != 0:
                raise SystemExit("racehunt failed (%d): %s\n%s" % (p.returncode, " ".join(argv), p.stderr))
            if name == "python3":
                header = p.stderr.splitlines()[0]
            recs = [json.loads(l) for l in (out / "results.jsonl").read_text().splitlines() if l.strip()]
            ms[name] += [r["duration_ms"] for r in recs]
            argvs[name] = argv
    med = {k: statistics.median(v) for k, v in ms.items()}
    wall = {k: statistics.median(v) for k, v in walls.items()}

    # What racehunt's shim costs in the wrapper's own processes, apart from racehunt: pyenv
    # choosing the interpreter (`pyenv which python3`, no Python process at all) with no
    # shim, with the shim dormant (python_only=1, as runs pass it now), and active in
    # every process (as before).
    pyenv_cmd = [str(shim.parents[1] / "libexec" / "pyenv"), "which", "python3"]
    lib = BUILD / "libracehunt_shim.so"
    opts = "enabled=1:seed=0123456789abcdef:arm_python=1:p=0.05:max_delay_ns=20000"
    variants = [("no shim", None), ("shim dormant (python_only=1)", opts + ":python_only=1"), ("shim active in every process (before)", opts)]
    shim_ms = {label: [] for label, _ in variants}
    files = {}
    for rep in range(20 * max(1, reps)):
        for i, (label, spec) in enumerate(variants):
            run_dir = tmp / ("wrapper-shim-%d-%d" % (rep, i))
            run_dir.mkdir(parents=True)
            e = dict(env)
            e.pop("LD_PRELOAD", None)
            if spec:
                e.update(LD_PRELOAD=str(lib), RACEHUNT_PROTOCOL="1", RACEHUNT_RUN_DIR=str(run_dir), RACEHUNT_SHIM=spec)
            start = time.perf_counter()
            subprocess.run(pyenv_cmd, cwd=str(d), env=e, stdout=subprocess.DEVNULL, check=True)
            shim_ms[label].append((time.perf_counter() - start) * 1000)
            files[label] = len([n for n in os.listdir(run_dir) if n.endswith(".bin")])
    lines_shim = ["", "racehunt's shim in the wrapper's own processes, outside racehunt: `%s` (pyenv choosing "
                  "the interpreter; no Python process), %d interleaved repetitions per variant." % (
                      " ".join(pyenv_cmd), 20 * max(1, reps)), "",
                  "| variant | median ms | against no shim | processes that left shim files |", "|---|---|---|---|"]
    base = statistics.median(shim_ms[variants[0][0]])
    for label, _ in variants:
        m = statistics.median(shim_ms[label])
        lines_shim.append("| %s | %.1f | %.2f× | %d |" % (label, m, m / base, files[label]))

    lines = [title, "",
             "A small threaded workload (two threads, 2,000 locked increments), profile `default`, "
             "%d runs per campaign at -j 1, campaign seed 1, %d rounds of one campaign per case (the order "
             "rotated each round); *median run ms* over "
             "all runs of a case (spawn to exit, as racehunt measures it), *campaign s* the median wall time. "
             "racehunt runs with pyenv's shims first on `PATH`. Starting the wrapper in every run, with "
             "racehunt's shim active in each of its processes, cost 273 ms a run against 139 ms and gave "
             "41 decision logs per failure. Load average when this section started: %s "
             "(on %d cores); absolute times swing with it, the ratios are measured side by side. "
             "*campaign s* of the first case includes its one start of the wrapper, to ask the interpreter."
             % (runs, rounds, load, os.cpu_count()), "",
             "| case | median run ms | campaign s | against the real interpreter | target |",
             "|---|---|---|---|---|"]
    for name, _, label in cases:
        lines.append("| %s | %.1f | %.2f | %.2f× | %s |" % (label, med[name], wall[name], med[name] / med["real"],
                                                       "≈ 1.00×" if name == "python3" else ""))
    lines += lines_shim
    lines += ["", "The header of the first case: `%s`" % header.replace(str(tmp), "$TMP"), "",
              "This section alone: `./bench/run.sh --only wrapper --update`.", "",
              "Commands (`PATH=%s:$PATH`):" % shim.parent, "", "```"]
    lines += [" ".join(argvs[name]).replace(str(tmp), "$TMP") for name, _, _ in cases] + ["```", ""]
    return lines, {"median_ms": med, "campaign_s": wall, "python3_over_real": med["python3"] / med["real"],
                   "command_over_real": med["command"] / med["real"],
                   "pyenv_which_ms": {k: statistics.median(v) for k, v in shim_ms.items()}, "shim_files": files}


FAULT_PROBE = r"""
import mmap, os, sys, time
n = 4096
m = mmap.mmap(-1, n * 4096)
t = time.perf_counter()
for i in range(0, n * 4096, 4096):
    m[i] = 1
zero = (time.perf_counter() - t) / n
r, w = os.pipe()
t = time.perf_counter()
pid = os.fork()
if pid == 0:
    t1 = time.perf_counter()
    for i in range(0, n * 4096, 4096):
        m[i] = 2
    os.write(w, b"%r %r" % ((time.perf_counter() - t1) / n, t1 - t))
    os._exit(0)
os.waitpid(pid, 0)
cow, fork = (float(x) for x in os.read(r, 100).split())
print("%.2f %.2f %.0f" % (zero * 1e6, cow * 1e6, fork * 1e6))
"""


def section_fork_server(tmp, reps):
    """Runs per second, fresh starts against fork-server starts, for a no-op
    workload and one that imports heavy stdlib modules, at -j1 and -j2."""
    runs = 200
    heavy = ["asyncio", "json", "decimal", "email.message", "concurrent.futures"]
    workloads = {"no-op": ("pass\n", []), "heavy imports": ("import %s\n" % ", ".join(heavy), heavy)}
    cases = []
    for wname, (body, preload) in workloads.items():
        path = scenario(tmp / ("fs-" + wname.replace(" ", "-")), body, runs)
        text = path.read_text()
        if preload:
            text = text.replace("[run]", "[run]\npreload = [%s]" % ", ".join('"%s"' % m for m in preload))
        path.write_text(text)
        for jobs in (1, 2):
            for start in ("fresh", "fork-server"):
                cases.append((wname, jobs, start, path))
    walls = {c[:3]: [] for c in cases}
    durations = {c[:3]: [] for c in cases}
    argvs = {}
    for rep in range(max(1, reps)):
        for wname, jobs, start, path in cases:
            out = tmp / ("fs-out-%s-%d-%s-%d" % (wname.replace(" ", "-"), jobs, start, rep))
            r = campaign(path, None, runs, out, jobs=jobs, use_profile_flag=False, extra=("--start", start))
            walls[(wname, jobs, start)].append(r["wall"])
            durations[(wname, jobs, start)].append(r["ms"])
            argvs[(wname, jobs, start)] = r["argv"]
    probe = subprocess.run([PY, "-c", FAULT_PROBE], stdout=subprocess.PIPE, universal_newlines=True).stdout.split()
    lines = ["## Fork-server starts", "",
             "%d runs per campaign, profile `default`, Python %s, %d interleaved repetitions (medians). "
             "*run ms*: mean run duration as racehunt measures it (spawn, or fork request, to exit); "
             "*runs/s*: runs over the campaign's wall time. The heavy workload imports %s; its scenario "
             "preloads them (`[run] preload`)." % (runs, PY, max(1, reps), ", ".join(heavy)), "",
             "| workload | -j | fresh runs/s | fork-server runs/s | ratio | fresh run ms | fork-server run ms | target |",
             "|---|---|---|---|---|---|---|---|"]
    figs = {}
    for wname in workloads:
        for jobs in (1, 2):
            f = statistics.median(walls[(wname, jobs, "fresh")])
            k = statistics.median(walls[(wname, jobs, "fork-server")])
            ratio = f / k
            figs["%s-j%d" % (wname, jobs)] = {"fresh_runs_s": runs / f, "fork_runs_s": runs / k, "ratio": ratio}
            lines.append("| %s | %d | %.1f | %.1f | %.2f× | %.1f | %.1f | %s |" % (
                wname, jobs, runs / f, runs / k, ratio,
                statistics.median(durations[(wname, jobs, "fresh")]),
                statistics.median(durations[(wname, jobs, "fork-server")]),
                "≥ 10× (no-op)" if wname == "no-op" else ""))
    if len(probe) == 3:
        figs["fault_us"] = {"zero_fill": float(probe[0]), "cow": float(probe[1]), "fork_us": float(probe[2])}
        lines += ["", "Why the no-op ratio is small here: this machine's page faults are slow. Measured in the same "
                  "run (Python, 16 MiB): a first-touch fault costs %s µs, a copy-on-write fault after fork %s µs, "
                  "and the fork of that process %s µs. A forked Python run still touches several hundred pages "
                  "(the fork's return path, the bootstrap's install, the workload, the exit steps), each a "
                  "copy-on-write fault, so on this machine a forked no-op run costs about as much page-fault "
                  "time as a fresh interpreter's start."
                  " What a server saves is the work done before the workload starts: the imports of its preloads." % tuple(probe), ""]
    key = ("no-op", 1, "fork-server")
    lines += ["", "Command (per case; `--start fresh` for the fresh column): `%s`"
              % " ".join(str(a) for a in argvs[key]).replace(str(tmp), "$TMP"), ""]
    return lines, figs

AWAITS = """import asyncio, time
AWAITS, TASKS = 100000, 10
async def worker(n):
    for _ in range(n):
        await asyncio.sleep(0)
async def main():
    await asyncio.gather(*(worker(AWAITS // TASKS) for _ in range(TASKS)))
t0 = time.perf_counter()
asyncio.run(main())
print(time.perf_counter() - t0)
"""


def section_asyncio(tmp, reps):
    """Failure rates of the asyncio examples under none / default / aggressive,
    and the cost of the loop layer on 100,000 trivial awaits."""
    runs = 200
    examples = ["async-cache-double-fetch", "async-counter-lost-update", "async-lost-cancellation"]
    rows, figs, argv = [], {}, None
    for name in examples + [e + "-fixed" for e in examples]:
        path = REPO / "scenarios" / name / "scenario.toml"
        cells = []
        for profile in ("none", "default", "aggressive"):
            r = campaign(path, profile, runs, tmp / ("aio-%s-%s" % (name, profile)))
            argv = argv or r["argv"]
            lo, hi = wilson(r["failures"], r["runs"])
            kinds = sorted({x["signature"] for x in r["records"] if x["outcome"] != "pass"})
            figs["%s/%s" % (name, profile)] = {"failures": r["failures"], "runs": r["runs"], "first": r["first"]}
            cells.append("%d/%d (%.0f%%, [%.0f%%, %.0f%%])%s%s" % (
                r["failures"], r["runs"], 100.0 * r["failures"] / r["runs"], 100 * lo, 100 * hi,
                "" if r["first"] is None else ", first at run %d" % r["first"],
                "" if not kinds else ": " + ", ".join("`%s`" % k for k in kinds)))
        rows.append("| %s | %s |" % (name, " | ".join(cells)))
    lines = ["## asyncio loop layer", "",
             "Failure rates, %d runs per cell, the scenarios' own timeouts (10 s; 3 s for the "
             "cancellation pair), Python %s, `-j 2`, campaign seed 1 (failures / runs, 95%% Wilson "
             "interval, first failing run, signatures). The examples' awaits do not "
             "wait on the clock, so under `none` each run makes the same first-in-first-out schedule: "
             "0 is exact there, not luck." % (runs, PY), "",
             "| scenario | none | default | aggressive |", "|---|---|---|---|"] + rows
    lines += ["", "Command (per cell): `%s`" % " ".join(str(a) for a in argv).replace(str(tmp), "$TMP"), ""]
    return lines, figs


def section_asyncio_cost(tmp, reps):
    """The cost of the loop layer on 100,000 trivial awaits."""
    figs = {}
    lines = ["## asyncio loop layer cost", ""]
    # The layer on its own: the bootstrap loaded as racehunt loads it, with and without
    # decisions, timed inside the workload (interpreter start-up left out).
    work = tmp / "awaits.py"
    work.write_text(AWAITS)
    settings = [("plain Python (no racehunt)", None),
                ("bootstrap, loop layer idle (shuffle 0, defer 0)", (0.0, 0.0)),
                ("default, typical draw (shuffle 0.22, defer 0.055)", (0.22, 0.055)),
                ("  its shuffles alone (shuffle 0.22, defer 0)", (0.22, 0.0)),
                ("  its deferrals alone (shuffle 0, defer 0.055)", (0.0, 0.055)),
                ("default, shuffle every iteration (shuffle 1, defer 0.055)", (1.0, 0.055)),
                ("aggressive, typical draw (shuffle 0.55, defer 0.16)", (0.55, 0.16)),
                ("aggressive, maximum (shuffle 1, defer 0.5)", (1.0, 0.5))]
    times = {label: [] for label, _ in settings}
    iterations = {}
    cpu = max(os.sched_getaffinity(0))
    for rep in range(max(3, reps) * 2):
        for label, cfg in settings:
            env = dict(os.environ)
            run_dir = tmp / ("aio-run-%d" % rep)
            if cfg is not None:
                shutil.rmtree(run_dir, ignore_errors=True)
                run_dir.mkdir()
                (run_dir / "config.json").write_text(json.dumps(
                    {"protocol": 1, "run_seed": "%x" % (rep + 1), "checks": {},
                     "asyncio": {"shuffle": cfg[0], "defer": cfg[1]}}))
                env.update(RACEHUNT_PROTOCOL="1", RACEHUNT_RUN_DIR=str(run_dir), RACEHUNT_ROLE="root",
                           PYTHONPATH=str(REPO / "injectors" / "python"))
            p = subprocess.run(["taskset", "-c", str(cpu), PY, str(work)], stdout=subprocess.PIPE,
                               universal_newlines=True, env=env)
            times[label].append(float(p.stdout.split()[-1]))
            if cfg is not None:
                for f in run_dir.glob("py-*.jsonl"):
                    for line in f.read_text().splitlines():
                        e = json.loads(line)
                        if e.get("event") == "exit":
                            iterations.setdefault(label, []).append(e["counters"])
    base = statistics.median(times[settings[0][0]])
    lines += ["A workload of %s (10 tasks × 10,000 `await asyncio.sleep(0)`), "
              "timed inside the workload, %d interleaved repetitions (median), every process pinned to "
              "CPU %d (this VM's two vCPUs differ: the same run takes 0.12 s on one and 0.18 s on the "
              "other, which made unpinned medians meaningless). The bootstrap is loaded the way racehunt "
              "loads it; the shim and the other layers are off, so the ratio is the loop layer's own. "
              "Target ≤ 1.3×." % ("100,000 trivial awaits", max(3, reps) * 2, cpu), "",
              "| setting | seconds | ratio to plain | loop iterations | shuffles | deferrals |",
              "|---|---|---|---|---|---|"]
    for label, cfg in settings:
        t = statistics.median(times[label])
        c = iterations.get(label, [{}])[0]
        figs["awaits/" + label] = {"s": t, "ratio": t / base}
        lines.append("| %s | %.3f | %.2f× | %s | %s | %s |" % (
            label, t, t / base, c.get("loop_iterations", "–"), c.get("loop_shuffles", "–"),
            c.get("loop_deferrals", "–")))
    # What a campaign pays: the settings the profiles really draw, one per run seed.
    draws_path = scenario(tmp / "aio-draws", "pass\n", 40)
    for profile in ("default", "aggressive"):
        r = campaign(draws_path, profile, 40, tmp / ("aio-draws-" + profile))
        ratios, on = [], 0
        for rec in r["records"]:
            a = rec["jitter"].get("asyncio")
            if not a:
                ratios.append(1.0)      # the layer is off in this run: it costs nothing
                continue
            on += 1
            pair = []
            for cfg in (None, (a["shuffle"], a["defer"])):
                env = dict(os.environ)
                run_dir = tmp / "aio-draw-run"
                if cfg is not None:
                    shutil.rmtree(run_dir, ignore_errors=True)
                    run_dir.mkdir()
                    (run_dir / "config.json").write_text(json.dumps(
                        {"protocol": 1, "run_seed": rec["seed"], "checks": {},
                         "asyncio": {"shuffle": cfg[0], "defer": cfg[1]}}))
                    env.update(RACEHUNT_PROTOCOL="1", RACEHUNT_RUN_DIR=str(run_dir), RACEHUNT_ROLE="root",
                               PYTHONPATH=str(REPO / "injectors" / "python"))
                p = subprocess.run(["taskset", "-c", str(cpu), PY, str(work)], stdout=subprocess.PIPE,
                                   universal_newlines=True, env=env)
                pair.append(float(p.stdout.split()[-1]))
            ratios.append(pair[1] / pair[0])
        figs["portfolio/" + profile] = {"mean_ratio": statistics.mean(ratios),
                                        "median_ratio": statistics.median(ratios), "on": on}
        lines.append("| `%s` as drawn for %d run seeds (layer on in %d): mean, median, max | – | %.2f×, %.2f×, %.2f× | | | |"
                     % (profile, len(ratios), on, statistics.mean(ratios), statistics.median(ratios), max(ratios)))
    lines += ["", "The last two rows time each drawn setting right after a plain run (pairs), seeds from "
              "`racehunt --profile P --runs 40 --seed 1` on a no-op scenario (`jitter.asyncio` of each record); "
              "a run with the layer off counts as 1.00×."]
    lines += ["", "Command (per setting): `RACEHUNT_PROTOCOL=1 RACEHUNT_RUN_DIR=DIR RACEHUNT_ROLE=root "
              "PYTHONPATH=injectors/python taskset -c CPU %s awaits.py`, DIR/config.json holding "
              "`{\"asyncio\": {\"shuffle\": S, \"defer\": D}}`; the workload is `AWAITS` in bench/bench.py." % PY, ""]
    return lines, figs

BASELINE = None              # --baseline: an installed racehunt (PREFIX/bin/racehunt) to compare with

MODULES_AT_START = """import sys
_seen = sorted(sys.modules)
with open(%r, "w") as f:
    f.write("\\n".join(_seen) + "\\n")
"""


def modules_at_start(binary, tmp, label, jitter):
    """The modules a workload finds already imported when its first line runs: what the
    interpreter and racehunt's injectors imported before it."""
    d = tmp / ("modules-%s" % label)
    listing = d / "modules.txt"
    path = scenario(d, MODULES_AT_START % str(listing), 1)
    path.write_text(path.read_text().replace("[run]", "[jitter]\n%s\n[run]" % jitter))
    p = subprocess.run([binary, str(path), "--runs", "1", "--quiet", "--out", str(d / "out")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, universal_newlines=True)
    if p.returncode != 0 or not listing.exists():
        raise SystemExit("module listing failed (%d): %s\n%s" % (p.returncode, binary, p.stderr))
    return set(listing.read_text().split())


def section_baseline(tmp, reps):
    """This build against another (--baseline PREFIX, e.g. the previous commit installed with
    `cmake --install build --prefix PREFIX`): start-up with the shim off and armed late, the
    cost of a passing campaign, and the modules imported before the workload's first line."""
    if BASELINE is None:
        return ["## This build against a baseline build", "", "Not measured: give `--baseline PREFIX`.", ""], {}
    builds = {"this": RACEHUNT, "baseline": str(Path(BASELINE) / "bin" / "racehunt")}
    runs = 200
    cases = [("off", 'switch_interval = "keep"\nshim = { probability = 0.0 }\nyields = { probability = 0.0 }'),
             ("late", 'switch_interval = "keep"\nshim = { probability = 0.05 }\nyields = { probability = 0.0 }')]
    ms = {(b, c): [] for b in builds for c, _ in cases}
    wall = {b: [] for b in builds}
    for rep in range(max(1, reps)):
        for b, binary in builds.items():
            for c, jitter in cases:
                d = tmp / ("base-%s-%s" % (b, c))
                path = scenario(d, "pass\n", runs)
                path.write_text(path.read_text().replace("[run]", "[jitter]\n%s\n[run]" % jitter))
                out = d / ("out-%d" % rep)
                argv = [binary, str(path), "--runs", str(runs), "-j", "1", "--quiet", "--out", str(out)]
                start = time.perf_counter()
                p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, universal_newlines=True)
                if p.returncode != 0:
                    raise SystemExit("baseline section: %s failed (%d)\n%s" % (argv, p.returncode, p.stderr))
                if c == "off":
                    wall[b].append(time.perf_counter() - start)
                recs = [json.loads(l) for l in (out / "results.jsonl").read_text().splitlines() if l.strip()]
                ms[(b, c)].append(statistics.median(x["duration_ms"] for x in recs))
    med = {k: statistics.median(v) for k, v in ms.items()}
    wmed = {b: statistics.median(v) for b, v in wall.items()}
    lines = ["## This build against a baseline build", "",
             "A no-op workload (`pass`), %d runs per case at -j 1, %d interleaved repetitions (both builds "
             "in turn, every repetition); Python %s. Baseline: `%s` (%s)."
             % (runs, max(1, reps), PY, builds["baseline"], sh([builds["baseline"], "--version"]).stdout.strip()), "",
             "| figure | this build | baseline | this / baseline |", "|---|---|---|---|"]
    for c, label in (("off", "median ms per run, shim off"), ("late", "median ms per run, shim armed late")):
        lines.append("| %s | %.1f | %.1f | %.3f× |" % (label, med[("this", c)], med[("baseline", c)],
                                                       med[("this", c)] / med[("baseline", c)]))
    late_off = {b: med[(b, "late")] / med[(b, "off")] for b in builds}
    lines.append("| shim armed late / shim off (target ≤ 1.05×) | %.3f× | %.3f× | |" % (late_off["this"], late_off["baseline"]))
    lines.append("| campaign wall time, %d runs, shim off | %.2f s | %.2f s | %.3f× |"
                 % (runs, wmed["this"], wmed["baseline"], wmed["this"] / wmed["baseline"]))
    figs = {"late_over_off": late_off["this"], "late_over_off_baseline": late_off["baseline"],
            "off_this_over_baseline": med[("this", "off")] / med[("baseline", "off")],
            "wall_this_over_baseline": wmed["this"] / wmed["baseline"]}
    lines += ["", "Modules imported before the workload's first line (racehunt's own left out):", "",
              "| jitter | this build | baseline | only in this build | only in the baseline |", "|---|---|---|---|---|"]
    for label, jitter in (("default", ""), ("asyncio", 'asyncio = { shuffle = 0.1, defer = 0.1 }')):
        got = {}
        for b, binary in builds.items():
            got[b] = {m for m in modules_at_start(binary, tmp, "%s-%s" % (b, label), jitter)
                      if not m.startswith("_racehunt") and m not in ("racehunt", "sitecustomize")}
        extra, missing = sorted(got["this"] - got["baseline"]), sorted(got["baseline"] - got["this"])
        figs["new_modules_" + label] = extra
        lines.append("| %s | %d | %d | %s | %s |" % (label, len(got["this"]), len(got["baseline"]),
                                                     ", ".join(extra) or "none", ", ".join(missing) or "none"))
    lines += ["", "Command (per build and case; the scenario's [jitter] table as above): "
              "`BUILD/racehunt SCENARIO --runs %d -j 1 --quiet --out DIR`" % runs, ""]
    return lines, figs


def section_corpus(tmp, reps):
    return corpus.section(tmp, RACEHUNT, CORPUS_RUNS, CORPUS_BLOCK, 2, CORPUS_ENTRIES)


SECTIONS = {"corpus": section_corpus, "overhead": section_overhead, "rss": section_rss, "power": section_power, "shim_idle": section_shim_idle,
            "focus_cost": section_focus_cost, "forensics": section_forensics,
            "audit": section_audit, "minimize": section_minimize, "controlled": section_controlled,
            "controlled_cost": section_controlled_cost,
            "scale": section_scale, "startup": section_startup, "wrapper": section_wrapper,
            "fork_server": section_fork_server,
            "asyncio": section_asyncio, "asyncio_cost": section_asyncio_cost, "baseline": section_baseline}


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
    global POWER_RUNS, WORKLOAD_FILTER, BASELINE, CORPUS_RUNS, CORPUS_BLOCK, CORPUS_ENTRIES
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", choices=sorted(SECTIONS), help="run only these sections")
    ap.add_argument("--update", action="store_true",
                    help="keep the other sections of an existing RESULTS.md (each says when it was measured)")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions per measurement")
    ap.add_argument("--output", default=str(REPO / "bench" / "RESULTS.md"))
    ap.add_argument("--runs", type=int, default=POWER_RUNS, help="runs per approach and workload (power section)")
    ap.add_argument("--workload", action="append", default=[],
                    help="only workloads whose name contains this (power section; for trying it out)")
    ap.add_argument("--baseline", metavar="PREFIX",
                    help="baseline section: an installed racehunt to compare this build with (PREFIX/bin/racehunt)")
    ap.add_argument("--corpus-runs", type=int, default=CORPUS_RUNS, help="runs per cell (corpus section)")
    ap.add_argument("--corpus-block", type=int, default=CORPUS_BLOCK,
                    help="runs per approach before the next one takes over (corpus section)")
    ap.add_argument("--entry", action="append", default=[],
                    help="only corpus entries whose folder name contains this (corpus section)")
    args = ap.parse_args()
    POWER_RUNS, WORKLOAD_FILTER, BASELINE = args.runs, args.workload, args.baseline
    CORPUS_RUNS, CORPUS_BLOCK, CORPUS_ENTRIES = args.corpus_runs, args.corpus_block, args.entry
    names = args.only or [n for n in SECTIONS if n != "baseline" or BASELINE]
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
