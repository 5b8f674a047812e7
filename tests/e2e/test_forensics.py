"""Failure forensics end to end: what a user reads when a run fails, hangs or crashes.
Real interpreters, real deadlocks, real signals; every test reads the merged dump
(dump.txt) racehunt wrote in the failing run's directory."""
import json
from pathlib import Path

import pytest

from racehunt_testlib import DEBIAN_PYTHON, pyenv_python, scenario_toml

OUT = "racehunt-out/t"

INTERPRETERS = [pytest.param(DEBIAN_PYTHON, id="3.11"),
                pytest.param(pyenv_python("3.8"), id="3.8"),
                pytest.param(pyenv_python("3.13"), id="3.13")]


def toml(python=DEBIAN_PYTHON, timeout="2s", runs=1, check="", jitter='profile = "none"'):
    return scenario_toml(python=python, timeout=timeout, jitter=jitter, check=check, runs=runs,
                         seed=11)


def failing_run(rh, r):
    recs = r.records(rh.dir / OUT)
    failed = [x for x in recs if x["outcome"] != "pass"]
    assert failed, r.explain()
    rec = failed[0]
    dump = (Path(rec["artifacts"]) / "dump.txt").read_text()
    return rec, dump


def hunt(rh, workload, **scenario_keys):
    """One scenario around `workload`, run once: (result, first failing record, its dump)."""
    r = rh.run(rh.scenario(toml(**scenario_keys), {"w.py": workload}))
    rec, dump = failing_run(rh, r)
    return r, rec, dump


def thread_block(dump, name):
    """The lines of one thread in dump.txt, from its heading to the blank line after it."""
    return dump[dump.index('\n  thread "%s"' % name) + 1:].split("\n\n")[0]


def need(python):
    if python is None:
        pytest.skip("interpreter not installed")


DEADLOCK = """
import threading, time
class Account:
    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
a, b = Account("a"), Account("b")
ready = threading.Barrier(2)
def transfer(src, dst):
    with src.lock:
        ready.wait()
        with dst.lock:
            pass
t1 = threading.Thread(target=transfer, args=(a, b), name="worker-A-then-B")
t2 = threading.Thread(target=transfer, args=(b, a), name="worker-B-then-A")
t1.start(); t2.start(); t1.join(); t2.join()
"""


@pytest.mark.parametrize("python", INTERPRETERS)
def test_deadlock_names_both_threads_and_the_cycle(rh, python):
    need(python)
    s = rh.scenario(toml(python=python), {"w.py": DEADLOCK})
    r = rh.run(s)
    assert r.returncode == 1, r.explain()
    rec, dump = failing_run(rh, r)
    assert rec["outcome"] == "hang"
    assert rec["signature"] == "hang:deadlock@w.py:transfer", rec
    # The cycle, by name, with the lock expressions of the source.
    assert "DEADLOCK in process" in dump, dump
    assert '"worker-A-then-B" waits for dst.lock' in dump and 'held by "worker-B-then-A"' in dump, dump
    assert '"worker-B-then-A" waits for dst.lock' in dump and 'held by "worker-A-then-B"' in dump, dump
    assert "holds src.lock" in dump
    # Every thread by name, with its stack innermost last; library frames set apart.
    for name in ("MainThread", "worker-A-then-B", "worker-B-then-A"):
        assert 'thread "%s"' % name in dump, dump
    assert 'waits for thread "worker-A-then-B" to finish' in dump
    worker = thread_block(dump, "worker-A-then-B")
    frames = [l for l in worker.splitlines()[1:] if "File " in l]
    assert frames[-1].strip().endswith("in transfer") and "w.py" in frames[-1], frames
    assert any(l.lstrip().startswith("· File") and "threading.py" in l for l in frames), frames
    # The console shows the excerpt and the cycle.
    assert "dump (first failure):" in r.stdout and "deadlock:" in r.stdout, r.stdout
    assert rh.survivors() == []


def test_thread_holding_the_gil_in_native_code_still_gets_a_dump(rh):
    # PyDLL keeps the GIL during the call, so while "gil-holder" sleeps in C no Python code
    # can run in the process: the main thread, woken by the dump signal, cannot take the
    # GIL to run the Python half. Only faulthandler (in C, from the signal handler) can say
    # where the threads are, and that must be enough.
    w = """
import ctypes, threading
def hold_the_gil():
    ctypes.PyDLL(None).sleep(60)
t = threading.Thread(target=hold_the_gil, name="gil-holder")
t.start()
t.join()
"""
    r, rec, dump = hunt(rh, w)
    assert rec["outcome"] == "hang"
    assert "faulthandler, on the dump signal" in dump, dump
    assert 'thread "MainThread"' in dump and 'thread "gil-holder"' in dump, dump
    holder = thread_block(dump, "gil-holder")
    assert 'w.py", line 4, in hold_the_gil' in holder, dump
    assert rec["signature"] == "hang@w.py:<module>", rec
    assert rh.survivors() == []


@pytest.mark.parametrize("python", [INTERPRETERS[0], INTERPRETERS[2]])
def test_a_hanging_child_process_shows_its_threads_under_its_pid(rh, python):
    need(python)
    w = """
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", '''
import threading, time
def sleeper():
    time.sleep(600)
t = threading.Thread(target=sleeper, name="child-sleeper-thread")
t.start(); t.join()
'''])
child.wait()
"""
    r, rec, dump = hunt(rh, w, python=python)
    assert rec["outcome"] == "hang"
    procs = [l for l in dump.splitlines() if l.startswith("process ")]
    assert len(procs) >= 2, dump
    child = [l for l in procs if "(child)" in l]
    assert child, dump
    child_pid = child[0].split()[1]
    section = dump[dump.index("process %s" % child_pid):]
    assert 'thread "child-sleeper-thread"' in section, dump
    assert "in sleeper" in section
    assert rh.survivors() == []


@pytest.mark.parametrize("python", INTERPRETERS)
def test_segfault_is_a_crash_with_the_faulthandler_stack(rh, python):
    need(python)
    w = "import ctypes\ndef peek():\n    return ctypes.string_at(0)\npeek()\n"
    r, rec, dump = hunt(rh, w, python=python)
    assert rec["outcome"] == "crash"
    assert rec["signature"] == "crash:SIGSEGV@w.py:peek", rec
    assert "Fatal Python error: Segmentation fault" in dump, dump
    failed = dump[dump.index("<-- FAILED") - 200:]
    assert 'thread "MainThread"' in failed and "in peek" in failed, dump


def test_long_names_and_executor_workers_are_shown_in_full(rh):
    long_name = "ingest-partition-0042-of-0128-retry-worker"  # 42 characters
    assert len(long_name) >= 40
    w = """
import threading
from concurrent.futures import ThreadPoolExecutor
never = threading.Event()
t = threading.Thread(target=never.wait, name=%r, daemon=True)
t.start()
pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fetch")
futures = [pool.submit(never.wait) for _ in range(2)]
futures[0].result()
""" % long_name
    r, rec, dump = hunt(rh, w)
    assert rec["outcome"] == "hang"
    assert 'thread "%s"' % long_name in dump, dump
    assert "  daemon" in dump[dump.index(long_name):].splitlines()[0]
    assert 'thread "fetch_0"' in dump and 'thread "fetch_1"' in dump, dump
    assert rh.survivors() == []


def test_exception_in_a_thread_dumps_every_thread_at_that_moment(rh):
    w = """
import threading, time
stop = threading.Event()
def steady():
    while not stop.is_set():
        time.sleep(0.001)
def broken():
    raise ValueError("bad input")
s = threading.Thread(target=steady, name="steady-worker"); s.start()
b = threading.Thread(target=broken, name="broken-worker"); b.start(); b.join()
stop.set(); s.join()
"""
    r, rec, dump = hunt(rh, w, timeout="20s")
    assert rec["outcome"] == "fail" and rec["signature"] == "fail:ValueError@w.py:broken", rec
    assert "stacks at the moment of the failure" in dump, dump
    head = [l for l in dump.splitlines() if l.startswith("  thread ")]
    assert head[0].startswith('  thread "broken-worker"') and head[0].endswith("<-- FAILED"), head
    assert any('"steady-worker"' in l for l in head), head
    assert any("broken-worker" in l and "(failed)" in l for l in rec["excerpt"]), rec["excerpt"]


def test_broken_invariant_dump_lists_the_threads_still_alive(rh):
    w = """
import threading
total = 1
t = threading.Thread(target=threading.Event().wait, name="background-daemon", daemon=True)
t.start()
"""
    r, rec, dump = hunt(rh, w, timeout="20s", check='invariants = ["total == 2"]')
    assert rec["outcome"] == "fail"
    assert "stacks when the invariant was found broken" in dump, dump
    assert 'thread "background-daemon"' in dump


def test_native_stacks_add_gdb_backtraces_of_every_thread(rh):
    import shutil
    if shutil.which("gdb") is None:
        pytest.skip("gdb is not installed")
    s = rh.scenario(toml(), {"w.py": DEADLOCK})
    r = rh.run(s, "--native-stacks")
    rec, dump = failing_run(rh, r)
    assert rec["outcome"] == "hang"
    native = dump[dump.index("native stacks (gdb, --native-stacks):"):]
    # gdb's view: one entry per OS thread (LWP), blocked in the C library's semaphore wait.
    assert native.count("(LWP ") >= 3, native
    assert "sem_" in native or "futex" in native, native
    assert "--native-stacks" in (Path(rec["artifacts"]) / "replay.sh").read_text()
    assert rh.survivors() == []


def test_native_stacks_without_gdb_is_a_usage_error(rh, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    s = rh.scenario(toml(), {"w.py": "pass\n"})
    r = rh.run(s, "--native-stacks", env={"PATH": str(bin_dir)})
    assert r.returncode == 2, r.explain()
    assert "--native-stacks" in r.stderr and "gdb is not installed" in r.stderr, r.stderr
    assert not (rh.dir / OUT / "results.jsonl").exists()


GROWING_CACHE = """
cache = []
def remember(i):
    cache.append("payload-%d-" % i * 20)
for i in range(60000):
    remember(i)
"""


def test_memory_growth_over_the_limit_fails_with_the_allocation_site(rh):
    s = rh.scenario(toml(timeout="30s", check='max_memory_growth = "4MB"'), {"w.py": GROWING_CACHE})
    r = rh.run(s)
    assert r.returncode == 1, r.explain()
    rec = r.records(rh.dir / OUT)[0]
    assert rec["outcome"] == "fail" and rec["signature"] == "fail:memory-growth@w.py", rec
    reason = next(x for x in rec["reasons"] if x.startswith("Python memory still allocated"))
    assert "(limit 4.0 MB)" in reason and "w.py:4 " in reason, reason
    # Within the limit the same workload passes.
    ok = rh.scenario(toml(timeout="30s", check='max_memory_growth = "500MB"'), {}, name="ok.toml")
    r2 = rh.run(ok, "--out", rh.dir / "ok")
    assert r2.returncode == 0, r2.explain()


def test_memory_growth_size_must_be_a_size(rh):
    s = rh.scenario(toml(check='max_memory_growth = "lots"'), {"w.py": "pass\n"})
    r = rh.run(s)
    assert r.returncode == 2, r.explain()
    assert "scenario.toml:" in r.stderr and "check.max_memory_growth" in r.stderr, r.stderr
    assert "50MB" in r.stderr


def test_os_thread_names_set_by_the_program_are_shown_next_to_python_names(rh):
    # A native library (here: prctl through ctypes) may name its threads for the OS; the
    # dump shows that name beside the Python one, read from /proc before the kill.
    w = """
import ctypes, threading
def pump():
    ctypes.CDLL(None).prctl(15, b"io-pump", 0, 0, 0)   # PR_SET_NAME
    threading.Event().wait()
t = threading.Thread(target=pump, name="pump-thread")
t.start()
t.join()
"""
    r, rec, dump = hunt(rh, w)
    assert rec["outcome"] == "hang"
    assert 'thread "pump-thread" (OS name "io-pump")' in dump, dump
    processes = json.loads((Path(rec["artifacts"]) / "processes.json").read_text())["processes"]
    assert any(t["comm"] == "io-pump" for p in processes for t in p["tasks"]), processes


def test_failing_run_keeps_its_decision_log(rh):
    w = """
import threading
class Counter:
    n = 0
c = Counter()
def bump():
    for _ in range(3000):
        v = c.n
        c.n = v + 1
ts = [threading.Thread(target=bump) for _ in range(3)]
for t in ts: t.start()
for t in ts: t.join()
"""
    # A read and a write with no call between: free-threaded semantics (docs/SWITCH_POINTS.md),
    # which also keeps the switch interval the scenario sets.
    jitter = ('switch_interval = 1e-5\nshim = { probability = 0.01, max_delay = "20us" }\n'
              'yields = { probability = 0.02, semantics = "free-threaded" }')
    s = rh.scenario(toml(timeout="30s", runs=3, check='invariants = ["c.n == 9000"]', jitter=jitter),
                    {"w.py": w})
    r = rh.run(s)
    rec, _ = failing_run(rh, r)
    text = (Path(rec["artifacts"]) / "decisions.txt").read_text()
    assert "switch interval: 1e-05 s" in text, text[:500]
    shim = rec["counters"]["shim"]
    injected = shim["yields"] + shim["delays"] + shim["starvation_windows"]
    shim_lines = [l for l in text.splitlines() if l.startswith("    thread ") and "decision" in l]
    assert len(shim_lines) == injected > 0, (len(shim_lines), shim)
    yield_lines = [l for l in text.splitlines() if "w.py:" in l and "visit" in l]
    assert len(yield_lines) == rec["counters"]["python"]["yields"] > 0


def test_a_condition_waiter_does_not_hold_the_condition(rh):
    # cond.wait() inside `with cond:` releases the lock: the waiter must not be reported as
    # its holder, or a lost wake-up would look like a deadlock.
    w = """
import threading
cond = threading.Condition()
def waiter():
    with cond:
        cond.wait()
t = threading.Thread(target=waiter, name="cond-waiter")
t.start()
t.join()
"""
    r, rec, dump = hunt(rh, w)
    assert rec["outcome"] == "hang" and rec["signature"] == "hang@w.py:<module>", rec
    waiter = thread_block(dump, "cond-waiter")
    assert "holds" not in waiter, waiter
    assert "DEADLOCK" not in dump
