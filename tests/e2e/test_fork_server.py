"""Fork-server starts ([run] start = "fork-server"): runs forked from a server that
started the interpreter and the preloads once behave as fresh starts do.

Statistical tests fix seeds and compare the two modes in the same test with wide margins.
"""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from racehunt_testlib import DEBIAN_PYTHON, REPO, outcome_counts, pyenv_python, read_records, scenario_toml

SC = REPO / "scenarios"


def servers_of(racehunt_pid):
    """Pids of the fork servers racehunt `racehunt_pid` started."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read()
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if b"_racehunt_server.py" in cmd and int(fields[1]) == racehunt_pid and fields[0] != "Z":
            found.append(int(pid))
    return found


# ---------------------------------------------------------------------------------------
# A run is what a fresh start would have been.

PROBE = r'''
import os, sys, random, signal, threading
print("argv=%r" % (sys.argv,))
print("path0=%s" % sys.path[0])
print("cwd=%s" % os.getcwd())
print("main=%s file=%s" % (__name__, __file__))
print("pgid_is_pid=%s" % (os.getpgid(0) == os.getpid()))
print("threads=%d" % threading.active_count())
print("main_thread=%s" % threading.main_thread().name)
print("native_ok=%s" % (threading.main_thread().native_id == threading.get_native_id()))
print("env=%s" % os.environ.get("PROBE_ENV"))
print("hash_env=%s" % ("RACEHUNT_FORK_ARGV_HASH" in os.environ or "RACEHUNT_FORK_SERVER" in os.environ))
print("sigusr1_default=%s" % (signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL))
print("stdin=%r" % sys.stdin.read())
print("random=%r" % random.random())
import state
print("state=%r" % state.items)
state.items.append(os.getpid())
os.environ["LEAK"] = "yes"
sys.path.insert(0, "/leak")
signal.signal(signal.SIGUSR1, lambda *a: None)
os.chdir("/")
sys.stderr.write("to stderr\n")
'''


def probe_scenario(rh, start, preload='["state", "random"]'):
    toml = scenario_toml(script="probe.py", runs=6, jobs=1, check='invariants = ["False"]',
                         extra='args = ["x", "y z"]\nenv = { PROBE_ENV = "e1" }')
    toml += 'start = "%s"\npreload = %s\n' % (start, preload)
    return rh.scenario(toml, {"probe.py": PROBE, "state.py": "items = []\n"}, name="s-%s.toml" % start)


def probe_outputs(rh, start):
    path = probe_scenario(rh, start)
    out = rh.dir / ("out-" + start)
    r = rh.run(path, "--out", out, "--quiet")
    assert r.returncode == 1, r.explain()  # every run fails its invariant: artifacts kept
    recs = read_records(out)
    assert len(recs) == 6, r.explain()
    texts = {}
    for x in recs:
        d = Path(x["artifacts"])
        texts[x["seed"]] = ((d / "stdout.txt").read_text(), (d / "stderr.txt").read_text(), x)
    return r, texts


def test_a_forked_run_sees_what_a_fresh_run_sees_and_nothing_of_the_run_before(rh):
    r_fresh, fresh = probe_outputs(rh, "fresh")
    r_fork, fork = probe_outputs(rh, "fork-server")
    assert fresh.keys() == fork.keys()
    randoms = set()
    for seed, (out, err, rec) in fork.items():
        lines = dict(l.split("=", 1) for l in out.splitlines() if "=" in l)
        flines = dict(l.split("=", 1) for l in fresh[seed][0].splitlines() if "=" in l)
        for key in ("argv", "path0", "cwd", "main_thread", "env", "stdin"):
            assert lines[key] == flines[key], (key, lines[key], flines[key])
        assert lines["argv"] == repr([str(rh.dir / "probe.py"), "x", "y z"])
        assert lines["path0"] == str(rh.dir)
        assert lines["main"] == "__main__ file=%s" % (rh.dir / "probe.py")
        # A fresh process group, one thread, the right native id, no protocol leftovers.
        assert lines["pgid_is_pid"] == "True" and lines["threads"] == "1"
        assert lines["native_ok"] == "True" and lines["hash_env"] == "False"
        # Nothing of the previous run: module globals, signal handlers, environment.
        assert lines["state"] == "[]", out
        assert lines["sigusr1_default"] == "True"
        assert err.startswith("to stderr\n"), err
        randoms.add(lines["random"])
        assert rec["start"] == "fork-server"
        # The same jitter for the same seed, whichever way the run started.
        assert rec["jitter"] == fresh[seed][2]["jitter"]
        assert "start" not in fresh[seed][2]
    # random is re-seeded in every child (CPython's own at-fork handler).
    assert len(randoms) == 6, randoms
    assert rh.survivors() == []


def test_shim_and_yield_streams_are_the_same_in_both_modes(rh):
    # A failing run's decisions.pins names each perturbation by (process key, thread,
    # decision): the keys must agree for a replay to cross modes.
    body = "import threading\nx = 0\ndef f():\n    global x\n    for _ in range(2000):\n        x += 1\n" \
           "ts = [threading.Thread(target=f) for _ in range(3)]\nfor t in ts: t.start()\nfor t in ts: t.join()\n"
    toml = scenario_toml(runs=3, jobs=1, jitter='shim = { probability = 0.05 }\n'
                         'yields = { probability = 0.05, focus = ["w.py"] }',
                         check='invariants = ["x < 0"]')
    path = rh.scenario(toml, {"w.py": body})
    keys = {}
    for start in ("fresh", "fork-server"):
        out = rh.dir / ("out-" + start)
        r = rh.run(path, "--out", out, "--quiet", "--start", start)
        assert r.returncode == 1, r.explain()
        for x in read_records(out):
            pins = (Path(x["artifacts"]) / "decisions.pins").read_text().splitlines()
            k = sorted({tuple(l.split()[:2]) for l in pins if l and not l.startswith("#")})
            assert any(kind == "shim" for kind, _ in k) and any(kind == "yield" for kind, _ in k), pins
            keys.setdefault(x["seed"], []).append(k)
    for seed, (a, b) in keys.items():
        assert a == b, (seed, a, b)


def test_a_run_recorded_forked_replays_fresh_and_the_other_way(rh):
    toml = scenario_toml(runs=2, jobs=1, check='invariants = ["False"]', run_extra='start = "fork-server"\n')
    path = rh.scenario(toml, {"w.py": "print('hello')\n"})
    out = rh.dir / "out"
    r = rh.run(path, "--out", out, "--quiet")
    assert r.returncode == 1, r.explain()
    rec = read_records(out)[0]
    assert rec["start"] == "fork-server"
    for start in ("fresh", "fork-server"):
        rout = rh.dir / ("replay-" + start)
        rr = rh.run("replay", path, "--seed", rec["seed"], "--start", start, "--out", rout, "--quiet")
        assert rr.returncode == 1, rr.explain()
        rep = read_records(rout)[0]
        assert rep["jitter"] == rec["jitter"] and rep["signature"] == rec["signature"]
        assert rep.get("start", "fresh") == start
        # The replay command carries the start mode it was given.
        assert "--start " + start in rep.get("replay", json.dumps(rep)) or \
            "--start " + start in (Path(rep["artifacts"]) / "replay.sh").read_text()


def test_uncaught_exception_sys_exit_and_crash_look_as_in_a_fresh_run(rh):
    cases = {
        "exc.py": ("def f():\n    raise ValueError('boom')\nf()\n", "fail:ValueError@exc.py:f"),
        "code.py": ("import sys\nsys.exit(3)\n", None),
        "msg.py": ("import sys\nsys.exit('bye')\n", None),
        "segv.py": ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n", None),
        "kbd.py": ("raise KeyboardInterrupt\n", None),
    }
    for script, (body, signature) in cases.items():
        seen = []
        for start in ("fresh", "fork-server"):
            toml = scenario_toml(script=script, runs=1, jitter='profile = "none"', run_extra='start = "%s"\n' % start)
            path = rh.scenario(toml, {script: body}, name="s-%s-%s.toml" % (script, start))
            out = rh.dir / ("out-%s-%s" % (script, start))
            r = rh.run(path, "--out", out, "--quiet")
            rec = read_records(out)[0]
            stderr = (Path(rec["artifacts"]) / "stderr.txt").read_text() if rec["artifacts"] else ""
            seen.append((r.returncode, rec["outcome"], rec["exit_code"], rec["signal"], rec["signature"],
                         stderr.replace(str(rh.dir), "DIR")))
        assert seen[0] == seen[1], (script, seen)
        if signature:
            assert seen[1][4] == signature
            assert 'File "DIR/exc.py", line 3, in <module>' in seen[1][5], seen[1][5]
            assert "_racehunt_server" not in seen[1][5] and "_racehunt/server.py" not in seen[1][5]


# ---------------------------------------------------------------------------------------
# Guards.

def test_a_preload_that_starts_a_thread_is_refused_before_any_run(rh):
    toml = scenario_toml(runs=3, run_extra='start = "fork-server"\npreload = ["json", "pool"]\n')
    path = rh.scenario(toml, {"w.py": "pass\n", "pool.py":
                              "import threading, time\n"
                              "threading.Thread(target=time.sleep, args=(60,), name='prefetch', daemon=True).start()\n"})
    out = rh.dir / "out"
    r = rh.run(path, "--out", out)
    assert r.returncode == 2, r.explain()
    line = [l for l in toml.splitlines()].index('preload = ["json", "pool"]') + 1
    assert "scenario.toml:%d:" % line in r.stderr, r.stderr
    assert 'preload "pool" started 1 thread(s) (prefetch)' in r.stderr, r.stderr
    assert 'remove "pool" from [run] preload' in r.stderr
    assert not (out / "results.jsonl").exists()
    assert rh.survivors() == []


def test_a_preload_that_cannot_be_imported_is_a_usage_error(rh):
    toml = scenario_toml(runs=3, run_extra='start = "fork-server"\npreload = ["no_such_module_here"]\n')
    path = rh.scenario(toml, {"w.py": "pass\n"})
    r = rh.run(path, "--out", rh.dir / "out")
    assert r.returncode == 2, r.explain()
    assert 'preload "no_such_module_here" could not be imported: ModuleNotFoundError' in r.stderr, r.stderr


def test_a_command_workload_starts_fresh_and_says_so(rh):
    toml = scenario_toml(command=[DEBIAN_PYTHON, "-c", "print(1)"], python=None, timeout=None, runs=3, seed=None,
                         run_extra='start = "fork-server"\n')
    path = rh.scenario(toml)
    out = rh.dir / "out"
    r = rh.run(path, "--out", out, "--quiet")
    assert r.returncode == 0, r.explain()
    assert "does not apply to a command workload" in r.stderr and "runs start fresh" in r.stderr
    assert outcome_counts(read_records(out)) == {"pass": 3}
    assert all("start" not in x for x in read_records(out))


def test_a_server_that_is_no_longer_single_threaded_refuses_and_runs_start_fresh(rh):
    # The preload starts its thread only after a delay, so it passes the start-up check and
    # is caught when the server is about to fork.
    toml = scenario_toml(runs=6, jobs=1, run_extra='start = "fork-server"\npreload = ["late"]\n')
    path = rh.scenario(toml, {"w.py": "import time\ntime.sleep(0.2)\n", "late.py":
                              "import signal, threading, time\n"
                              "def later(*a):\n"
                              "    threading.Thread(target=time.sleep, args=(60,), name='late-pool', daemon=True).start()\n"
                              "signal.signal(signal.SIGALRM, later)\n"
                              "signal.setitimer(signal.ITIMER_REAL, 0.3)\n"})
    out = rh.dir / "out"
    r = rh.run(path, "--out", out)
    assert r.returncode == 0, r.explain()
    recs = read_records(out)
    assert outcome_counts(recs) == {"pass": 6}
    assert any(x.get("start") == "fork-server" for x in recs), recs
    assert any("start" not in x for x in recs), recs
    assert "refused a run: the server is no longer single-threaded (late-pool)" in r.stderr, r.stderr
    assert rh.survivors() == []


def test_killing_the_servers_mid_campaign_loses_and_misclassifies_nothing(rh):
    toml = scenario_toml(runs=24, jobs=2, jitter='profile = "none"', run_extra='start = "fork-server"\n')
    path = rh.scenario(toml, {"w.py": "import time\ntime.sleep(0.25)\nprint('ok')\n"})
    out = rh.dir / "out"
    argv = [rh.exe, str(path), "--out", str(out), "--quiet"]
    env = dict(os.environ, RH_TEST_MARK=rh.mark, NO_COLOR="1")
    proc = subprocess.Popen(argv, cwd=rh.dir, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    killed = []
    try:
        # Only once the campaign runs: a server killed before it is first ready is the
        # campaign's own start failing (exit 2, "did not become ready"), which is not what
        # this test is about (under ASan and load, start-up took longer than a fixed 1 s).
        deadline = time.time() + 60
        results = out / "results.jsonl"
        while time.time() < deadline and proc.poll() is None and \
                not (results.exists() and results.read_text().strip()):
            time.sleep(0.05)
        # Kill every server three times during the campaign: mid-run, most likely (each run
        # takes 250 ms), so the runs in flight are orphaned and end through racehunt's reaper.
        for delay in (0.1, 0.8, 0.8):
            time.sleep(delay)
            for pid in servers_of(proc.pid):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed, "no fork server was found to kill"
    assert proc.returncode == 0, (proc.returncode, stdout, stderr)
    recs = read_records(out)
    assert sorted(x["run"] for x in recs) == list(range(24))
    assert outcome_counts(recs) == {"pass": 24}, [x for x in recs if x["outcome"] != "pass"]
    warnings = [w for x in recs for w in x.get("warnings", [])]
    assert any("died" in w for w in warnings), warnings
    assert "died and were replaced" in stderr, stderr
    assert rh.survivors() == []
    assert servers_of(proc.pid) == []


# ---------------------------------------------------------------------------------------
# Outcomes: the same distribution in both modes, and every example scenario as documented.

@pytest.mark.statistical
def test_the_same_scenario_fails_at_the_same_rate_in_both_modes(rh):
    outs = {}
    for start in ("fresh", "fork-server"):
        out = rh.dir / ("out-" + start)
        r = rh.run(SC / "bank-lost-update" / "scenario.toml", "--runs", 60, "--python", DEBIAN_PYTHON,
                   "--seed", 7, "--start", start, "--out", out, "--quiet")
        assert r.returncode in (0, 1), r.explain()
        outs[start] = out
    fails = {k: outcome_counts(read_records(v)).get("fail", 0) for k, v in outs.items()}
    # Under load (tests/stress.sh, 3 rounds): fresh 116/180, fork-server 118/180; fewer
    # than 6 of 60 at 0.570 (the 95% low end): 2.5e-15.
    assert fails["fresh"] >= 6 and fails["fork-server"] >= 6, fails
    # racehunt compare: Fisher's exact test; exit 1 only on a significant rise. At the default
    # level (0.05) two equal rates are "different" in 1 comparison of 20 by definition; at
    # 5e-5 (Fisher's test is conservative: at most 5e-5 a direction, 1e-4 for both under
    # equal rates) it still flags a rate several-fold apart (2/60 against 20/60: p = 1.3e-5);
    # a mode that hides the race fails the >= 6 above.
    for a, b in (("fresh", "fork-server"), ("fork-server", "fresh")):
        c = rh.run("compare", outs[a] / "summary.json", outs[b] / "summary.json", "--alpha", "0.00005")
        assert c.returncode == 0, (fails, c.explain())


def hunt(rh, name, runs, *extra):
    out = rh.dir / ("out-" + name)
    r = rh.run(SC / name / "scenario.toml", "--runs", runs, "--python", DEBIAN_PYTHON,
               "--start", "fork-server", "--out", out, "--quiet", *extra)
    assert r.returncode in (0, 1), r.explain()
    recs = read_records(out)
    assert len(recs) == runs and all(x.get("start") == "fork-server" for x in recs), r.explain()
    return r, recs, outcome_counts(recs)


@pytest.mark.statistical
@pytest.mark.parametrize("name", ["bank-locked", "lazy-singleton-fixed", "lock-order-deadlock-fixed",
                                  "worker-exception-fixed"])
def test_correct_twin_passes_every_forked_run_under_aggressive(rh, name):
    # Must never fail: only a wrong result or a real hang counts, so a run slowed down by load
    # gets 60 s (the scenarios' own timeouts are 3-10 s). Under load (tests/stress.sh, 3
    # rounds): 90 of 90 passed for each, the longest run 2.7 s.
    r, recs, c = hunt(rh, name, 30, "--profile", "aggressive", "--timeout", "60s")
    assert c == {"pass": 30}, (c, r.stdout)


@pytest.mark.statistical
@pytest.mark.parametrize("name,signature", [
    ("bank-lost-update", "fail:invariant:account.balance == INITIAL_BALANCE"),
    ("lazy-singleton", "fail:invariant:len(created_by) == 1"),
    ("worker-exception", "fail:IndexError@outbox.py:"),
])
def test_racy_scenario_fails_in_forked_runs(rh, name, signature):
    r, recs, c = hunt(rh, name, 40, "--profile", "default")
    fails = [x for x in recs if x["outcome"] == "fail"]
    # Under load (tests/stress.sh, 3 rounds): 77/120 (bank), 83/120 (singleton), 76/120
    # (worker); fewer than 2 of 40 at the 95% low ends (0.549, 0.601, 0.541): 1.5e-12 at most.
    assert len(fails) >= 2, c
    assert all(x["signature"].startswith(signature) for x in fails), fails[0]


@pytest.mark.statistical
def test_lock_order_deadlock_hangs_in_forked_runs_and_the_dump_names_the_threads(rh):
    r, recs, c = hunt(rh, "lock-order-deadlock", 30, "--profile", "default", "--timeout", "1s")
    # Under load (tests/stress.sh, 3 rounds): 67/90 hung; fewer than 2 of 30 at 0.642 (the
    # 95% low end): 2.3e-12.
    assert c.get("hang", 0) >= 2, c
    assert set(c) <= {"pass", "hang"}, c
    hang = next(x for x in recs if x["outcome"] == "hang")
    dump = (Path(hang["artifacts"]) / "dump.txt").read_text()
    assert '"worker-A-then-B"' in dump and '"worker-B-then-A"' in dump, dump
    assert "_racehunt_server" not in dump and "_racehunt/server.py" not in dump, dump
    assert rh.survivors() == []


@pytest.mark.parametrize("version", ["3.8", "3.13"])
def test_fork_server_works_on_the_oldest_and_newest_interpreters(rh, version):
    python = pyenv_python(version)
    if python is None:
        pytest.skip("no pyenv Python %s" % version)
    toml = scenario_toml(python=python, runs=4, jobs=1, check='invariants = ["False"]',
                         run_extra='start = "fork-server"\npreload = ["json"]\n')
    path = rh.scenario(toml, {"w.py": "import sys, threading\nprint(sys.version_info[:2], threading.active_count())\n"})
    out = rh.dir / "out"
    r = rh.run(path, "--out", out, "--quiet")
    assert r.returncode == 1, r.explain()
    recs = read_records(out)
    assert all(x["start"] == "fork-server" and x["signature"] == "fail:invariant:False" for x in recs), recs
    text = (Path(recs[0]["artifacts"]) / "stdout.txt").read_text()
    assert text.startswith("(%s, %s) 1" % tuple(version.split("."))), text


EXIT_CASES = {
    # workload, invariants: each must end the same way in both modes
    "kbd-invariant.py": ("x = 1\nraise KeyboardInterrupt\n", '["x == 1"]'),
    "closed-stdout.py": ("import sys\nprint('a')\nsys.stdout.close()\n", "[]"),
    "flush-fails.py": ("import sys\nsys.stdout = open('/dev/full', 'w')\nprint('x' * 10)\nraise SystemExit(3)\n", "[]"),
    "global-file.py": ("import os\nf = open(os.path.join(os.environ['OUT_DIR'], 'payload.txt'), 'w')\nf.write('payload')\n", "[]"),
    "broken-hook.py": ("import sys\ndef hook(*a):\n    raise RuntimeError('hook broke')\nsys.excepthook = hook\nraise ValueError('v')\n", "[]"),
    "del-at-exit.py": ("class C:\n    def __del__(self):\n        print('deleted', flush=True)\nc = C()\n", "[]"),
    "c-stdio.py": ("import ctypes\nctypes.CDLL(None).printf(b'from C\\n')\n", "[]"),
    "seekable.py": ("import sys\nprint(sys.stdout.seekable(), sys.stderr.seekable(), sys.stdout.isatty())\n", "[]"),
}


@pytest.mark.parametrize("script", sorted(EXIT_CASES))
def test_exit_paths_end_as_in_a_fresh_run(rh, script):
    body, invariants = EXIT_CASES[script]
    seen = []
    for start in ("fresh", "fork-server"):
        out_dir = rh.dir / ("files-" + start)
        out_dir.mkdir()
        toml = scenario_toml(script=script, runs=1, jitter='profile = "none"', check="invariants = %s" % invariants,
                             extra='env = { OUT_DIR = "%s" }' % out_dir, run_extra='start = "%s"\n' % start)
        path = rh.scenario(toml, {script: body}, name="s-%s.toml" % start)
        out = rh.dir / ("out-" + start)
        rh.run(path, "--out", out, "--quiet")
        rec = read_records(out)[0]
        art = Path(rec["artifacts"]) if rec["artifacts"] else None
        text = lambda n: (art / n).read_text().replace(str(rh.dir), "DIR") if art and (art / n).exists() else None
        payload = (out_dir / "payload.txt").read_text() if (out_dir / "payload.txt").exists() else None
        seen.append((rec["outcome"], rec["exit_code"], rec["signal"], rec["signature"], text("stdout.txt"),
                     text("stderr.txt"), payload))
        assert rec.get("start", "fresh") == start
    assert seen[0] == seen[1], (script, seen)


def test_servers_started_during_the_campaign_do_not_eat_the_runs_timeout(rh):
    # Each server takes 1.5 s to import its preload; a run may take 1 s. The second
    # worker's server starts while the campaign runs, and its time is racehunt's.
    toml = scenario_toml(runs=6, jobs=2, timeout="1s", jitter='profile = "none"',
                         run_extra='start = "fork-server"\npreload = ["slow"]\n')
    path = rh.scenario(toml, {"w.py": "import time\ntime.sleep(0.3)\n", "slow.py": "import time\ntime.sleep(1.5)\n"})
    out = rh.dir / "out"
    r = rh.run(path, "--out", out, "--quiet")
    assert r.returncode == 0, r.explain()
    recs = read_records(out)
    assert outcome_counts(recs) == {"pass": 6} and all(x["start"] == "fork-server" for x in recs), recs


def test_ctrl_c_while_the_server_starts_ends_racehunt_at_once(rh):
    toml = scenario_toml(runs=3, timeout="600s", run_extra='start = "fork-server"\npreload = ["slow"]\n')
    path = rh.scenario(toml, {"w.py": "pass\n", "slow.py": "import time\ntime.sleep(60)\n"})
    env = dict(os.environ, RH_TEST_MARK=rh.mark, NO_COLOR="1")
    proc = subprocess.Popen([rh.exe, str(path), "--out", str(rh.dir / "out")], cwd=rh.dir, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True)
    time.sleep(1.0)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Not a timing assertion on racehunt's speed: without the fix it waited out the preload (60 s).
    assert time.monotonic() - started < 20, err
    assert proc.returncode == 130, (proc.returncode, err)
    assert servers_of(proc.pid) == [] and rh.survivors() == []
