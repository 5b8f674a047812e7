"""Pins and `racehunt minimize`: a failing run's perturbations are recorded as pins, a subset
of them can be replayed alone, and minimize shrinks a real lost update to the few
perturbations that matter.

Statistical where marked: fixed seeds, and margins wide enough for a loaded machine.
"""
import json
import re
from pathlib import Path

import pytest

from racehunt_testlib import MINIMAL_LINE, REPO, scenario_toml

# Both depositors start together; whichever holds the GIL runs all its deposits within one
# switch interval unless a yield hands the GIL over. One yield between the read and the
# write of the thread that runs first is enough to lose the other thread's deposits.
LOST_UPDATE = """
import threading

class Account(object):
    def __init__(self):
        self.balance = 0

account = Account()
gate = threading.Barrier(2)

def deposit(times):
    gate.wait()
    for _ in range(times):
        balance = account.balance
        note = "deposit %d" % balance
        account.balance = balance + 1

threads = [threading.Thread(target=deposit, args=(2000,), name="depositor-%d" % i) for i in (1, 2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""
# Only Python yield points: the interpreter's switch interval kept, the shim off.
# The lost update below reads and writes without a call between: a GIL build of 3.10+
# never switches there, so its yields take free-threaded semantics (docs/SWITCH_POINTS.md).
YIELDS_ONLY = ('switch_interval = "keep"\nshim = { probability = 0.0 }\n'
               'yields = { probability = 0.02, focus = ["w.py"], semantics = "free-threaded" }')
INVARIANT = 'invariants = ["account.balance == 4000"]'

LOCKS_THEN_FAIL = """
import sys, threading
lock = threading.Lock()
def work():
    for _ in range(2000):
        with lock:
            pass
threads = [threading.Thread(target=work, name="locker-%d" % i) for i in (1, 2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
sys.exit(1)   # fails every run, so that every run keeps its decisions
"""
SHIM_ONLY = 'switch_interval = "keep"\nshim = { probability = 0.05 }\nyields = { probability = 0.0 }'


def first_failing_seed(rh, scenario, runs=30):
    out = rh.dir / "hunt"
    r = rh.run(scenario, "--runs", runs, "-j", 2, "--quiet", "--out", out)
    assert r.returncode in (0, 1), r.explain()
    fails = [x for x in r.records(out) if x["outcome"] == "fail"]
    assert fails, "no run failed in %d runs:%s" % (runs, r.explain())
    return fails[0]


def pin_lines(text, kind):
    return [l for l in text.splitlines() if l.startswith(kind + " ")]


def perturbations(record):
    shim = record["counters"].get("shim", {})
    return shim.get("yields", 0) + shim.get("delays", 0), record["counters"].get("python", {}).get("yields", 0)


def test_a_failing_run_records_its_perturbations_as_pins(rh):
    s = rh.scenario(scenario_toml(jitter=YIELDS_ONLY, check=INVARIANT, runs=30), {"w.py": LOST_UPDATE})
    failing = first_failing_seed(rh, s)
    pins = (Path(failing["artifacts"]) / "decisions.pins").read_text()
    assert pins.startswith("# racehunt pins 1\n"), pins[:200]
    yields = pin_lines(pins, "yield")
    # The same count as the bootstrap's own counter, each naming its thread and line.
    assert len(yields) == failing["counters"]["python"]["yields"], (len(yields), failing["counters"])
    assert all(re.search(r'# yield in thread "(MainThread|depositor-[12])" at w\.py:\d+ on its \d+(st|nd|rd|th) visit', l)
               for l in yields), yields[:3]
    assert not pin_lines(pins, "shim") and not pin_lines(pins, "switch-interval")


def test_replay_with_pins_applies_exactly_the_pinned_perturbations(rh):
    s = rh.scenario(scenario_toml(jitter=SHIM_ONLY, check="exit_code = 0", runs=2),
                    {"w.py": LOCKS_THEN_FAIL})
    failing = first_failing_seed(rh, s, runs=2)
    seed = failing["seed"]
    full = (Path(failing["artifacts"]) / "decisions.pins").read_text()
    shim_lines = pin_lines(full, "shim")
    assert len(shim_lines) > 20, full[:500]
    # Each decision is named by the Python thread that made it (shim thread index -> kernel
    # thread id -> the bootstrap's names).
    names = set(re.findall(r'in thread "([^"]+)"', full))
    assert names == {"MainThread", "locker-1", "locker-2"}, names
    # Each names its call site: the code that called the interposed function, resolved by
    # the process at exit (an exported symbol when there is one, else object+offset).
    sites = [re.search(r" call from (\S+)", l) for l in shim_lines]
    assert all(sites), [l for l, m in zip(shim_lines, sites) if not m][:3]
    assert all(re.match(r"([A-Za-z_]\w*\+0x[0-9a-f]+|[\w.-]+\+0x[0-9a-f]+)$", m.group(1)) for m in sites), sites[:5]
    assert any("python3.11" in l for l in shim_lines), shim_lines[:3]
    assert "  from " in (Path(failing["artifacts"]) / "decisions.txt").read_text()
    # Three of the main thread's decisions, and nothing else.
    main = [l for l in shim_lines if l.split()[2] == "0"][:3]
    assert len(main) == 3, shim_lines[:10]
    subset = rh.dir / "three.pins"
    subset.write_text("# three decisions\n" + "\n".join(main) + "\n")
    out = rh.dir / "pinned"
    r = rh.run("replay", s, "--seed", seed, "--pins", subset, "--repeat", 3, "--out", out, "--quiet")
    assert r.returncode == 1, r.explain()
    for rec in r.records(out):
        shim, py = perturbations(rec)
        # The main thread's first decisions come before it starts any thread, so all three
        # are reached in every run; nothing else may be injected.
        assert shim == 3 and py == 0, rec["counters"]
        assert rec["jitter"]["pinned"] == 3 and rec["jitter"]["shim"]["pinned"] is True
    # An empty pins file: no perturbation at all, though the seed's plan has the shim on.
    empty = rh.dir / "empty.pins"
    empty.write_text("# nothing\n")
    out = rh.dir / "none"
    r = rh.run("replay", s, "--seed", seed, "--pins", empty, "--out", out, "--quiet")
    rec = r.records(out)[0]
    assert perturbations(rec) == (0, 0), rec["counters"]
    assert rec["jitter"]["shim"]["enabled"] is False
    # The unpinned replay of the same seed perturbs far more.
    out = rh.dir / "free"
    r = rh.run("replay", s, "--seed", seed, "--out", out, "--quiet")
    assert perturbations(r.records(out)[0])[0] > 20


@pytest.mark.statistical
def test_minimize_shrinks_a_lost_update_to_a_few_yields(rh):
    s = rh.scenario(scenario_toml(jitter=YIELDS_ONLY, check=INVARIANT, runs=30), {"w.py": LOST_UPDATE})
    failing = first_failing_seed(rh, s)
    start = failing["counters"]["python"]["yields"]
    out = rh.dir / "min"
    r = rh.run("minimize", s, "--seed", failing["seed"], "--final-runs", 20,
               "--time-budget", "3m", "-j", 2, "--out", out, timeout=400)
    assert r.returncode == 1, r.explain()
    lines = r.stdout.strip().splitlines()
    m = MINIMAL_LINE.match(lines[-2])
    assert m, r.explain()
    size, k, n = int(m.group(1)), int(m.group(2)), int(m.group(3))
    # How small is for the slow test below (3 seeds, at most 4 each): a noisy oracle can keep
    # an extra yield now and then, a chance not measured below 1e-4. Here: that it shrank.
    assert n == 20 and 1 <= size < start, r.explain()
    # Noise-mode replay is probabilistic: a set accepted at 3 of 5 may reproduce less often
    # than that. Measured under load (tests/stress.sh, 6 rounds): minimal 1 yield every
    # round, reproducing 94 of 120 in all (13-18 of 20), and the pasted replay (--repeat 20)
    # failed 99 of 120 runs. Fewer than 2 of 20 at 0.699 (the 95% low end of 94/120): 2e-9;
    # a replay of 20 runs without a failure, at 0.745: 1e-12.
    assert k >= 2, r.explain()
    assert 'yield in thread "depositor-' in r.stdout
    replay = lines[-1]
    assert replay.startswith(rh.printed + " replay ") and "--pins" in replay and "--seed " + failing["seed"] in replay
    pins = (out / "minimal.pins").read_text()
    assert len(pin_lines(pins, "yield")) == size
    # A failing replay of the minimal set was traced: its interleaving shows where each
    # pinned yield handed the GIL over (to another thread, whichever took it).
    text = (out / "interleaving.txt").read_text()
    assert "The run was not controlled" in text and (out / "interleaving.html").exists()
    assert re.search(r"\n\d+\s+depositor-[12]\s+w\.py:\d+\s+\[pinned yield\]\n  ---- switch: \S+ runs ----", text), text[:3000]
    assert "interleaving of a failing replay: " in r.stdout
    # The printed command replays the minimal set, and it still fails.
    argv = replay.split()[1:]
    r2 = rh.run(*argv, "--out", rh.dir / "again", "--quiet")
    assert r2.returncode == 1, r2.explain()


@pytest.mark.slow
@pytest.mark.statistical
def test_minimize_ends_a_lost_update_at_a_few_yields_from_several_seeds(rh):
    s = rh.scenario(scenario_toml(jitter=YIELDS_ONLY, check=INVARIANT, runs=30), {"w.py": LOST_UPDATE})
    out = rh.dir / "hunt"
    r = rh.run(s, "--runs", 30, "-j", 2, "--quiet", "--out", out)
    fails = [x for x in r.records(out) if x["outcome"] == "fail"][:3]
    assert len(fails) == 3, r.explain()
    for i, failing in enumerate(fails):
        r = rh.run("minimize", s, "--seed", failing["seed"], "--final-runs", 20, "--time-budget", "3m",
                   "-j", 2, "--out", rh.dir / ("min-%d" % i), timeout=400)
        m = MINIMAL_LINE.search(r.stdout)
        assert r.returncode == 1 and m and 1 <= int(m.group(1)) <= 4, r.explain()



@pytest.mark.slow
@pytest.mark.statistical
def test_minimize_shrinks_the_bank_example_to_a_few_perturbations(rh):
    # The example scenario as a user runs it: the default profile, all three layers. A
    # pinned yield waits until another thread has moved (hand_over in the bootstrap), so a
    # single yield in the read-to-write window loses an update: measured on 5 failing seeds,
    # each minimized to 2 yields reproducing 11-19 of 20, from 79-2,106 perturbations. Under
    # load (a bank campaign beside it on 2 cores) the noisy oracle can keep a third one that a
    # quiet machine would drop (seen once: "minimal: 3"), so the bound is 4. Slow: under load
    # (tests/stress.sh, 4 rounds) the minimal sets reproduced 8, 12, 20 and 10 of 20; a set
    # accepted at 3 of 5 that reproduces at 0.2 fails "k >= 2 of 20" with chance 0.07.
    s = REPO / "scenarios" / "bank-lost-update" / "scenario.toml"
    hunt = rh.dir / "hunt"
    r = rh.run(s, "--runs", 40, "-j", 2, "--seed", 7, "--quiet", "--out", hunt)
    assert r.returncode == 1, r.explain()
    failing = [x for x in r.records(hunt) if x["outcome"] == "fail"]
    assert failing, r.explain()
    out = rh.dir / "min"
    r = rh.run("minimize", s, "--seed", failing[0]["seed"], "-j", 2, "--time-budget", "5m",
               "--out", out, timeout=600)
    assert r.returncode == 1, r.explain()
    m = MINIMAL_LINE.search(r.stdout)
    assert m, r.explain()
    size, k = int(m.group(1)), int(m.group(2))
    assert 1 <= size <= 4 and k >= 2, r.explain()
    assert "\nminimal set:" in r.stdout, r.explain()

def test_minimize_says_when_no_perturbation_was_needed(rh):
    s = rh.scenario(scenario_toml(jitter=YIELDS_ONLY, check='invariants = ["total == 1"]', runs=3),
                    {"w.py": "total = 2\n"})
    failing = first_failing_seed(rh, s, runs=1)
    r = rh.run("minimize", s, "--seed", failing["seed"], "--final-runs", 4, "-j", 2, "--out", rh.dir / "m")
    assert r.returncode == 1, r.explain()
    assert "did not need any perturbation" in r.stdout
    assert r.stdout.strip().splitlines()[-2] == "minimal: 0 perturbation(s), reproduces 4/4", r.explain()


def test_minimize_of_a_passing_seed_has_nothing_to_do(rh):
    s = rh.scenario(scenario_toml(jitter=YIELDS_ONLY, runs=1), {"w.py": "x = 1\n"})
    r = rh.run("minimize", s, "--seed", "00000000000000aa", "-j", 2, "--out", rh.dir / "m")
    assert r.returncode == 0, r.explain()
    assert "did not fail in 20 run(s): nothing to minimize" in r.stdout


@pytest.mark.parametrize("args,where", [
    (["--confirm", "6/5"], "--confirm"),
    (["--confirm", "x"], "--confirm"),
    (["--final-runs", "0"], "--final-runs"),
    (["--time-budget", "soon"], "--time-budget"),
])
def test_minimize_rejects_bad_options(rh, args, where):
    s = rh.scenario(scenario_toml(runs=1), {"w.py": "x = 1\n"})
    r = rh.run("minimize", s, "--seed", "00000000000000aa", *args)
    assert r.returncode == 2, r.explain()
    assert where in r.stderr, r.explain()


def test_replay_names_the_bad_line_of_a_pins_file(rh):
    s = rh.scenario(scenario_toml(runs=1), {"w.py": "x = 1\n"})
    bad = rh.dir / "bad.pins"
    bad.write_text("# ok\nyield 12ab 1 two\n")
    r = rh.run("replay", s, "--seed", "00000000000000aa", "--pins", bad)
    assert r.returncode == 2, r.explain()
    assert "bad.pins:2:14" in r.stderr and "expected a visit number" in r.stderr, r.explain()


def test_racehunt_never_yields_in_its_own_code_even_with_focus_on_everything(rh):
    jitter = 'switch_interval = "keep"\nshim = { probability = 0.0 }\nyields = { probability = 1.0, focus = ["/*"] }'
    s = rh.scenario(scenario_toml(jitter=jitter, check='invariants = ["False"]', runs=1),
                    {"w.py": "import json\nx = json.dumps({'a': 1})\n"})
    out = rh.dir / "o"
    r = rh.run(s, "--quiet", "--out", out)
    rec = r.records(out)[0]
    assert rec["outcome"] == "fail", r.explain()
    log = next(Path(rec["artifacts"]).glob("yields-*.log")).read_text()
    assert "/json/" in log                          # the stdlib is in focus ...
    files = {l.split("\t")[1].rsplit(":", 1)[0] for l in log.splitlines() if not l.startswith("#")}
    ours = [f for f in files if Path(f).name.startswith(("_racehunt", "racehunt.py", "sitecustomize"))
            or Path(f).parent.name == "_racehunt"]
    assert not ours, ours


def test_an_interrupted_minimization_resumes_where_it_stopped(rh):
    s = rh.scenario(scenario_toml(jitter=YIELDS_ONLY, check=INVARIANT, runs=30), {"w.py": LOST_UPDATE})
    failing = first_failing_seed(rh, s)
    out = rh.dir / "min"
    # Interrupted (Ctrl-C) once a few candidates were judged.
    import os, signal, subprocess, time
    p = subprocess.Popen([rh.exe, "minimize", str(s), "--seed", failing["seed"], "-j", "2", "--out", str(out)],
                         cwd=str(rh.dir), env=dict(os.environ, RH_TEST_MARK=rh.mark), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        log = out / "minimize.jsonl"
        if log.exists() and log.read_text().count('"candidate"') >= 3:
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, (p.returncode, err)
    first = [json.loads(l) for l in (out / "minimize.jsonl").read_text().splitlines() if l.endswith("}")]
    verdicts = [x for x in first if "candidate" in x]
    assert first[0]["step"] == "start" and verdicts, first[:3]
    # Cut the log as a kill would; the earlier verdicts are reused, not run again.
    text = (out / "minimize.jsonl").read_text()
    (out / "minimize.jsonl").write_text(text + '{"step": "decisions", "si')
    r = rh.run("minimize", s, "--seed", failing["seed"], "-j", 2, "--time-budget", "5m", "--out", out,
               "--resume", timeout=600)
    assert r.returncode == 1, r.explain()
    assert "resuming: %d verdict(s) from the earlier session" % len({x["candidate"] for x in verdicts}) in r.stderr, r.explain()
    assert r.stderr.count("(verdict of the earlier session)") >= len(verdicts) - 1, r.explain()
    assert "\nminimal set:" in r.stdout, r.explain()
    # Resuming another seed's minimization is refused.
    r = rh.run("minimize", s, "--seed", "0123456789abcdef", "--out", out, "--resume")
    assert r.returncode == 2 and "minimized seed" in r.stderr, r.explain()
