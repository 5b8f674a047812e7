"""The corpus section: real races (bench/corpus/, see its README.md) beside what a user would
otherwise run. Per entry and approach: failures/runs with Wilson intervals, runs to the
first failure, wall seconds and failures per wall-minute; the fixed twin under every
approach; and a one-sided Fisher test of `--profile none` against the plain loop (does the
harness itself hide the race?).

Approaches, each `jobs` processes at a time, interleaved in blocks (A B C D E, then
B C D E A, ...) so that load drifting over minutes hits every approach alike:

  plain       python workload.py, a fresh process per run
  switch      the same with sys.setswitchinterval(1e-6) first (pytest-run-parallel's trick)
  none        racehunt --profile none (bootstrap and shim loaded, no perturbation)
  default     racehunt, the scenario focused on the entry's code as a user would
  aggressive  racehunt --profile aggressive, same focus
"""
import concurrent.futures
import json
import math
import os
import subprocess
import time
import tomllib
from pathlib import Path

from stats import fisher_less, wilson

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "bench" / "corpus"
PYENV = Path(os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))) / "versions"
DEBIAN_PYTHON = "/usr/bin/python3.11"
APPROACHES = ["plain", "switch", "none", "default", "aggressive"]
RACEHUNT_PROFILES = ("none", "default", "aggressive")
SWITCH = ("import runpy, sys\nsys.setswitchinterval(1e-6)\nsys.argv[0] = {path!r}\n"
          "sys.path[0] = {dir!r}\nrunpy.run_path({path!r}, run_name='__main__')\n")


def duration_s(text):
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if text.endswith(suffix):
            return float(text[:-len(suffix)]) * scale
    return float(text)


def interpreter(name):
    if name == "debian":
        return DEBIAN_PYTHON
    return str(PYENV / name / "bin" / "python3")


def entries(names=()):
    """Every entry's entry.toml as a dict with its folder (`dir`), optionally only those
    whose folder name contains one of `names`."""
    out = []
    for d in sorted(CORPUS.iterdir()):
        f = d / "entry.toml"
        if not f.is_file() or (names and not any(n in d.name for n in names)):
            continue
        e = tomllib.loads(f.read_text())
        e["dir"] = d
        e["name"] = d.name
        out.append(e)
    return out


def variants(e):
    """(label, python, env) of the racy workload and of its fixed twin."""
    racy = ("racy", interpreter(e["python"]), {})
    fixed = e.get("fixed", {})
    twin = ("fixed", interpreter(fixed.get("python", e["python"])), dict(fixed.get("env", {})))
    return [racy, twin]


def loop(python, workload, env, runs, jobs, timeout, switch=False):
    """`runs` fresh processes, `jobs` at a time: [(failed, kind)] in start order."""
    argv = [python, str(workload)]
    if switch:
        argv = [python, "-c", SWITCH.format(path=str(workload), dir=str(workload.parent))]
    full_env = dict(os.environ, **env)

    def one(_):
        try:
            p = subprocess.run(argv, cwd=str(workload.parent), env=full_env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired:
            return True, "hang"
        return p.returncode != 0, ("pass" if p.returncode == 0 else "fail:%d" % p.returncode)

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(one, range(runs)))


def scenario_file(e, python, env, dest):
    """The scenario a user would write for the entry: the workload, its interpreter and
    timeout, and yields.focus on the code they suspect."""
    dest.mkdir(parents=True, exist_ok=True)
    lines = ["[workload]", "script = %s" % json.dumps(str(e["dir"] / "workload.py")),
             "cwd = %s" % json.dumps(str(e["dir"])), "python = %s" % json.dumps(python),
             "timeout = %s" % json.dumps(e.get("timeout", "20s"))]
    if env:
        lines.append("env = { %s }" % ", ".join("%s = %s" % (k, json.dumps(v)) for k, v in env.items()))
    if e.get("focus"):
        lines += ["[jitter]", "yields = { focus = %s }" % json.dumps(e["focus"])]
    path = dest / "scenario.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def racehunt_block(racehunt, scenario, profile, runs, jobs, seed, out):
    argv = [racehunt, str(scenario), "--runs", str(runs), "-j", str(jobs), "--quiet", "--seed", str(seed),
            "--out", str(out)]
    if profile != "default":
        argv[2:2] = ["--profile", profile]
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, universal_newlines=True)
    results = Path(out) / "results.jsonl"
    if p.returncode not in (0, 1) or not results.exists():
        return None, "racehunt exit %d: %s" % (p.returncode, p.stderr.strip().splitlines()[-1:] or "")
    recs = [json.loads(l) for l in results.read_text().splitlines() if l.strip()]
    recs.sort(key=lambda r: r["run"])
    # `slow` (racehunt's perturbation pushed a busy run past its timeout; calmed, it passed)
    # is not a failure; the cell counts it apart.
    return [(r["outcome"] not in ("pass", "slow"), r["outcome"], regime(r.get("jitter") or {}),
             r.get("duration_ms") or 0.0) for r in recs], argv


def regime(jitter):
    """The regime class of a racehunt run, from its plan: which costly layers it drew.
    Y = Python yield points (o: at opcode granularity), S = the preload shim (s: with
    starvation windows), - = neither."""
    y = jitter.get("yields") or {}
    s = jitter.get("shim") or {}
    ys = ("o" if y.get("granularity") == "opcode" else "Y") if y.get("probability", 0) > 0 else "-"
    return ys + (("s" if s.get("starvation") else "S") if s.get("enabled") else "-")


def measure(e, racehunt, tmp, runs, block, jobs, approaches=APPROACHES):
    """{variant: {approach: {"runs", "failures", "first", "wall", "outcomes"}}}."""
    timeout = duration_s(e.get("timeout", "20s"))
    workload = e["dir"] / "workload.py"
    res, errors = {}, []
    for label, python, env in variants(e):
        scen = scenario_file(e, python, env, tmp / e["name"] / label)
        cells = {a: {"runs": 0, "failures": 0, "first": None, "wall": 0.0, "outcomes": {}, "slow": 0}
                 for a in approaches}
        blocks = max(1, math.ceil(runs / block))
        for b in range(blocks):
            n = min(block, runs - b * block)
            order = approaches[b % len(approaches):] + approaches[:b % len(approaches)]
            for a in order:
                start = time.perf_counter()
                if a in ("plain", "switch"):
                    got = [(failed, outcome, None, None)
                           for failed, outcome in loop(python, workload, env, n, jobs, timeout, switch=(a == "switch"))]
                else:
                    got, argv = racehunt_block(racehunt, scen, a, n, jobs, 1000 + b,
                                               tmp / e["name"] / label / ("%s-%d" % (a, b)))
                    if got is None:
                        errors.append("%s %s block %d: %s" % (label, a, b, argv))
                        continue
                wall = time.perf_counter() - start
                c = cells[a]
                for i, (failed, outcome, kind, ms) in enumerate(got):
                    c["slow"] += outcome == "slow"
                    if kind is not None:
                        c.setdefault("regimes", []).append((kind, failed, outcome, ms))
                    if failed:
                        c["failures"] += 1
                        if c["first"] is None:
                            c["first"] = c["runs"] + i + 1
                        c["outcomes"][outcome] = c["outcomes"].get(outcome, 0) + 1
                c["runs"] += len(got)
                c["wall"] += wall
        res[label] = cells
    return res, errors


def per_minute(c):
    return 60.0 * c["failures"] / c["wall"] if c["wall"] else 0.0


def cell_text(c):
    if not c["runs"]:
        return "—"
    lo, hi = wilson(c["failures"], c["runs"])
    return "%d/%d [%.0f–%.0f%%] first %s, %.0f s, **%.1f/min**%s" % (
        c["failures"], c["runs"], 100 * lo, 100 * hi, c["first"] or "—", c["wall"], per_minute(c),
        ", %d slow" % c["slow"] if c.get("slow") else "")


def regime_table(figs):
    """Cost and yield of each regime class of the racehunt runs (default and aggressive,
    racy and fixed): a run's cost is its duration over the median duration of the entry's
    `none` runs; failures per 100 cost units is what a portfolio weight buys."""
    rows = {}
    for f in figs.values():
        for variant in ("racy", "fixed"):
            cells = f[variant]
            base = sorted(ms for _, _, _, ms in cells["none"].get("regimes", []) if ms)
            if not base:
                continue
            base = base[len(base) // 2]
            for a in ("none", "default", "aggressive"):
                for kind, failed, outcome, ms in cells[a].get("regimes", []):
                    kind = "none" if a == "none" else kind
                    r = rows.setdefault((kind, variant), {"runs": 0, "failures": 0, "slow": 0, "cost": 0.0,
                                                         "entries": set()})
                    r["runs"] += 1
                    r["failures"] += failed
                    r["slow"] += outcome == "slow"
                    r["cost"] += (ms or 0.0) / base
                    if failed:
                        r["entries"].add(id(f))
    if not rows:
        return []
    out = ["", "Regimes of the racehunt runs above (none, then default and aggressive by what they drew): Y yield points by line, o by "
           "opcode, S the shim, s the shim with starvation windows, - off. Cost: a run's wall time over the "
           "median of the entry's `none` runs.", "",
           "| regime | variant | runs | failures | slow | mean cost | failures per 100 cost | entries failed |",
           "|---|---|---|---|---|---|---|---|"]
    for (kind, variant), r in sorted(rows.items(), key=lambda kv: (kv[0][1] != "racy", kv[0][0])):
        out.append("| `%s` | %s | %d | %d | %d | %.2f | %.1f | %d |" % (
            kind, variant, r["runs"], r["failures"], r["slow"], r["cost"] / r["runs"],
            100.0 * r["failures"] / r["cost"] if r["cost"] else 0.0, len(r["entries"])))
    return out


def section(tmp, racehunt, runs, block, jobs, names=()):
    es = entries(names)
    load_start = " ".join("%.2f" % x for x in os.getloadavg())
    lines = ["## Real races (bench/corpus)", "",
             "Each entry is a race reported on a public tracker, in code no one here wrote "
             "(bench/corpus/*/entry.toml names the report, the interpreter and the fixed twin). "
             "%d runs per cell, %d at a time, approaches interleaved in blocks of %d. A cell reads "
             "failures/runs [Wilson 95%%], the run of the first failure, wall seconds, and failures "
             "per wall-minute. racehunt cells include racehunt's own start-up and its scenario's "
             "focus on the entry's code; `none` is racehunt with every perturbation off; `N slow` counts "
             "runs racehunt's perturbation pushed past the timeout (not failures)."
             % (runs, jobs, block), "",
             "| entry | kinds | " + " | ".join(APPROACHES) + " | default ÷ better loop (per minute) | "
             "none < plain? (Fisher p) | fixed twin failures |",
             "|---|---|" + "---|" * len(APPROACHES) + "---|---|---|"]
    figs, notes = {}, []
    for e in es:
        t0 = time.time()
        res, errors = measure(e, racehunt, tmp, runs, block, jobs)
        racy, fixed = res["racy"], res["fixed"]
        loop_best = max(per_minute(racy["plain"]), per_minute(racy["switch"]))
        rh_default = per_minute(racy["default"])
        ratio = ("%.2f×" % (rh_default / loop_best)) if loop_best else ("∞" if rh_default else "—")
        p = fisher_less(racy["none"]["failures"], racy["none"]["runs"],
                        racy["plain"]["failures"], racy["plain"]["runs"])
        twin = ", ".join("%s %d/%d%s" % (a, fixed[a]["failures"], fixed[a]["runs"],
                                         " (%d slow)" % fixed[a]["slow"] if fixed[a].get("slow") else "")
                         for a in APPROACHES)
        lines.append("| [%s](corpus/%s/entry.toml) | %s | %s | %s%s | %s | %s |" % (
            e["name"], e["name"], ", ".join(e.get("kinds", [])),
            " | ".join(cell_text(racy[a]) for a in APPROACHES), ratio,
            "" if loop_best else " (loops found nothing)",
            "%.3f%s" % (p, " **significant**" if p < 0.05 else ""), twin))
        figs[e["name"]] = {"racy": racy, "fixed": fixed, "default_over_best_loop":
                           (rh_default / loop_best) if loop_best else None, "none_below_plain_p": p,
                           "seconds": time.time() - t0}
        notes += ["- %s: %s" % (e["name"], x) for x in errors]
    ratios = [f["default_over_best_loop"] for f in figs.values() if f["default_over_best_loop"] is not None]
    if ratios:
        ratios.sort()
        median = ratios[len(ratios) // 2] if len(ratios) % 2 else (ratios[len(ratios) // 2 - 1] + ratios[len(ratios) // 2]) / 2
        lines += ["", "racehunt default ÷ the better loop, failures per wall-minute: median %.2f×, "
                  "at least 1× on %d of %d entries the loops could fail."
                  % (median, sum(r >= 1 for r in ratios), len(ratios))]
    false_alarms = ["%s (%s)" % (name, ", ".join("%s %d/%d" % (a, f["fixed"][a]["failures"], f["fixed"][a]["runs"])
                                                 for a in APPROACHES if f["fixed"][a]["failures"]))
                    for name, f in figs.items() if any(f["fixed"][a]["failures"] for a in APPROACHES)]
    lines += ["", "Fixed twins that failed (false alarms, or a twin that is not fixed): %s."
              % ("; ".join(false_alarms) if false_alarms else "none")]
    lines += ["", "Load average: %s at the start, %s at the end (2 cores)."
              % (load_start, " ".join("%.2f" % x for x in os.getloadavg()))]
    lines += regime_table(figs)
    if notes:
        lines += ["", "racehunt errors (their runs are not counted):"] + notes
    lines += ["", "Commands (per entry, from its folder; racehunt's scenario is written by bench/corpus.py "
              "from entry.toml: the workload, its interpreter, timeout, env and `yields.focus`):", "",
              "```", "PYTHON workload.py",
              "PYTHON -c 'import sys, runpy; sys.setswitchinterval(1e-6); runpy.run_path(\"workload.py\", run_name=\"__main__\")'",
              "racehunt scenario.toml --profile none --runs N -j 2 --seed S",
              "racehunt scenario.toml --runs N -j 2 --seed S",
              "racehunt scenario.toml --profile aggressive --runs N -j 2 --seed S",
              "```", ""]
    return lines, figs
