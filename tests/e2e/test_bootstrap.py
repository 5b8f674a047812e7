"""End-to-end tests of the Python bootstrap (injectors/python/).

Each test starts real Python processes the way the harness does: a run directory with a
config.json, the RACEHUNT_* environment, and the bootstrap directory first on PYTHONPATH.
Every test runs under each interpreter that exists on this machine (Debian's python3.11 and
pyenv's 3.8-3.13); missing ones are skipped.

Run with: /usr/bin/python3 -m pytest tests/e2e/test_bootstrap.py
"""

import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from racehunt_testlib import REPO, interpreters, read_jsonl, replay_thread_log

BOOTSTRAP_DIR = REPO / "injectors" / "python"


def _interpreters():
    params = []
    for name, path in interpreters():
        marks = () if path else (pytest.mark.skip(reason="%s is not installed" % name),)
        params.append(pytest.param(path or name, id=name, marks=marks))
    return params


@pytest.fixture(params=_interpreters())
def python(request):
    return request.param


def _version(python):
    out = subprocess.run([python, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
                         stdout=subprocess.PIPE, universal_newlines=True, check=True)
    return tuple(int(x) for x in out.stdout.split())


DEFAULT_CONFIG = {
    "protocol": 1,
    "run_seed": "00112233aabbccdd",
    "scenario_dir": "",
    "switch_interval": None,
    "checks": {"thread_exceptions": "fail", "leaked_threads": "fail", "invariants": []},
    "yields": {"probability": 0.0, "granularity": "line", "focus": []},
}


class Run(object):
    """One racehunt-like run: its directory, its processes, and what they wrote."""

    def __init__(self, python, base, pycache):
        self.python = python
        self.base = base
        self.dir = base / "run"
        self.dir.mkdir()
        self.pycache = pycache
        self.config = json.loads(json.dumps(DEFAULT_CONFIG))
        self.config["scenario_dir"] = str(base)

    def write(self, name, text):
        path = self.base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def env(self, role="root", extra=None, pythonpath=None):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("RACEHUNT_") and k not in ("PYTHONPATH", "PYTHONHOME")}
        env.update({
            "RACEHUNT_PROTOCOL": "1",
            "RACEHUNT_RUN_DIR": str(self.dir),
            "RACEHUNT_RUN_SEED": self.config["run_seed"],
            "RACEHUNT_RUN_TOKEN": "test-token",
            "RACEHUNT_ROLE": role,
            "RACEHUNT_DUMP_SIGNAL": str(int(signal.SIGUSR1)),
            "PYTHONPATH": pythonpath or str(BOOTSTRAP_DIR),
            # Bytecode goes to a temporary cache so that tests neither write into the
            # source tree nor pay for compiling the bootstrap in every process.
            "PYTHONPYCACHEPREFIX": str(self.pycache),
        })
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if extra:
            env.update(extra)
        return env

    def start(self, args, **kwargs):
        """Start the workload without waiting (used for hangs)."""
        (self.dir / "config.json").write_text(json.dumps(self.config))
        env = self.env(**{k: kwargs.pop(k) for k in ("role", "extra", "pythonpath") if k in kwargs})
        return subprocess.Popen([self.python] + list(args), cwd=str(self.base), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True, **kwargs)

    def run(self, args, timeout=30, **kwargs):
        proc = self.start(args, **kwargs)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError("workload timed out\nstdout:\n%s\nstderr:\n%s" % (out, err))
        self.returncode, self.stdout, self.stderr = proc.returncode, out, err
        return proc

    def event_files(self):
        return sorted(self.dir.glob("py-*.jsonl"))

    def events(self, pid=None):
        """Events of one process (the only one when pid is None)."""
        if pid is None:
            files = self.event_files()
            assert len(files) == 1, "expected one events file, got %s\nstderr:\n%s" % (
                [f.name for f in files], getattr(self, "stderr", ""))
            path = files[0]
        else:
            path = self.dir / ("py-%d.jsonl" % pid)
        return read_jsonl(path)

    def of(self, events, kind):
        return [e for e in events if e["event"] == kind]

    def one(self, events, kind):
        found = self.of(events, kind)
        assert len(found) == 1, "expected one %r event in %s" % (kind, events)
        return found[0]


@pytest.fixture
def run(python, tmp_path, tmp_path_factory):
    return Run(python, tmp_path, tmp_path_factory.getbasetemp() / "pycache")


def _warnings(events):
    return [e["message"] for e in events if e["event"] == "warning"]


# ---------------------------------------------------------------------------------------

def test_start_event_and_switch_interval(run):
    run.write("w.py", """
        import sys
        print(sys.getswitchinterval())
    """)
    run.config["switch_interval"] = 1e-6
    run.run(["w.py", "a1", "a2"])
    assert run.returncode == 0, run.stderr
    events = run.events()
    assert [e["event"] for e in events] == ["start", "main_done", "exit"], events
    start = events[0]
    assert start["role"] == "root"
    assert start["switch_interval"] == pytest.approx(1e-6)
    assert float(run.stdout) == pytest.approx(1e-6)
    assert start["argv"] == ["w.py", "a1", "a2"]
    assert start["yields"] == "off"
    assert start["pid"] == int(run.event_files()[0].stem.split("-")[1])
    assert start["ppid"] == os.getpid()
    assert start["python"].startswith("3.")
    assert start["executable"]
    assert _warnings(events) == []
    assert (run.dir / ("faulthandler-%d.txt" % start["pid"])).exists()

    # 3e-6 * 1e6 is 2.9999999999999996, which CPython would truncate to 2 us: the planned
    # whole microsecond is what the interpreter uses.
    for f in run.dir.glob("*-*"):
        f.unlink()
    run.config["switch_interval"] = 3e-6
    run.run(["w.py"])
    assert float(run.stdout) == 3e-6
    assert run.one(run.events(), "start")["switch_interval"] == 3e-6

    # null keeps the interpreter's default of 5 ms.
    for f in run.dir.glob("*-*"):
        f.unlink()
    run.config["switch_interval"] = None
    run.run(["w.py"])
    assert run.one(run.events(), "start")["switch_interval"] == pytest.approx(0.005)
    assert float(run.stdout) == pytest.approx(0.005)


def test_workload_view_is_unchanged(run):
    """sys.path[0], __main__, sys.argv and the global random state are the workload's."""
    script = """
        import json, os, random, sys
        random.seed(7)
        print(json.dumps({"path0": sys.path[0], "argv": sys.argv, "main": __name__,
                          "file": os.path.basename(__file__), "rand": random.random(),
                          "role": os.environ.get("RACEHUNT_ROLE")}))
    """
    run.write("w.py", script)
    run.run(["w.py", "x"])
    with_racehunt = json.loads(run.stdout)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RACEHUNT_")}
    env.pop("PYTHONPATH", None)
    plain = json.loads(subprocess.run([run.python, "w.py", "x"], cwd=str(run.base), env=env,
                                      stdout=subprocess.PIPE, universal_newlines=True).stdout)
    assert with_racehunt.pop("role") == "child"      # the root hands "child" down
    plain.pop("role")
    assert with_racehunt == plain


def test_thread_exception_recorded_with_name_and_frame(run):
    run.write("w.py", """
        import threading
        def inner():
            raise ValueError("boom in worker")
        def work():
            inner()
        t = threading.Thread(target=work, name="Worker-3")
        t.start()
        t.join()
    """)
    run.run(["w.py"])
    assert run.returncode == 0
    # The default hook's output is unchanged.
    assert "Exception in thread Worker-3" in run.stderr
    assert "ValueError: boom in worker" in run.stderr
    events = run.events()
    exc = run.one(events, "exception")
    assert exc["thread"] == "Worker-3"
    assert exc["main"] is False
    assert exc["type"] == "ValueError"
    assert exc["message"] == "boom in worker"
    assert isinstance(exc["ident"], int) and isinstance(exc["native_id"], int)
    file, line, func = exc["frames"][-1]
    assert (file.endswith("w.py"), line, func) == (True, 4, "inner")
    assert exc["frames"][-2][2] == "work"


def test_main_exception(run):
    run.write("w.py", """
        class AppError(Exception):
            pass
        def fail():
            raise AppError("main failed")
        fail()
    """)
    run.run(["w.py"])
    assert run.returncode == 1
    assert "AppError: main failed" in run.stderr
    events = run.events()
    exc = run.one(events, "exception")
    assert exc["main"] is True
    assert exc["thread"] == "MainThread"
    assert exc["type"] == "__main__.AppError"
    assert exc["frames"][-1][1:] == [5, "fail"]
    kinds = [e["event"] for e in events]
    assert kinds == ["start", "exception", "main_done", "exit"]


def test_sys_exit_status_unchanged(run):
    run.write("w.py", """
        import sys, threading
        threading.Thread(target=lambda: None).start()
        sys.exit(3)
    """)
    run.config["checks"]["invariants"] = ["True"]
    run.run(["w.py"])
    assert run.returncode == 3
    events = run.events()
    assert [e["event"] for e in events] == ["start", "main_done", "invariant", "exit"]
    assert run.of(events, "exception") == []


def test_os_exit_leaves_only_start(run):
    run.write("w.py", """
        import os
        os._exit(5)
    """)
    run.run(["w.py"])
    assert run.returncode == 5
    assert [e["event"] for e in run.events()] == ["start"]


def test_invariants(run):
    run.write("w.py", """
        import threading
        class Account:
            balance = 0
        account = Account()
        def deposit():
            account.balance += 1000
        t = threading.Thread(target=deposit)
        t.start()
        # No join: invariants run after the interpreter joined non-daemon threads.
    """)
    run.config["checks"]["invariants"] = ["account.balance == 1000", "account.balance == 7",
                                          "missing_name > 1"]
    run.run(["w.py"])
    assert run.returncode == 0
    events = run.events()
    inv = run.of(events, "invariant")
    assert [i["expr"] for i in inv] == run.config["checks"]["invariants"]
    assert inv[0]["ok"] is True and inv[0]["value"] == "True"
    assert inv[1]["ok"] is False and inv[1]["value"] == "False"
    assert inv[2]["ok"] is False and inv[2]["error"].startswith("NameError:")
    assert "missing_name" in inv[2]["error"]
    kinds = [e["event"] for e in events]
    assert kinds.index("main_done") < kinds.index("invariant") < kinds.index("exit")


def test_invariants_only_in_root(run):
    run.write("w.py", "x = 1\n")
    run.config["checks"]["invariants"] = ["x == 1"]
    run.run(["w.py"], role="child")
    assert run.of(run.events(), "invariant") == []


def test_leaked_non_daemon_thread_in_main_done(run):
    run.write("w.py", """
        import threading, time
        threading.Thread(target=time.sleep, args=(0.5,), name="zombie-worker").start()
        threading.Thread(target=time.sleep, args=(5,), name="daemon-worker", daemon=True).start()
    """)
    t0 = time.time()
    run.run(["w.py"])
    assert run.returncode == 0
    done = run.one(run.events(), "main_done")
    assert [t["name"] for t in done["threads"]] == ["zombie-worker"]
    assert done["threads"][0]["daemon"] is False
    assert time.time() - t0 < 5


def test_child_processes_get_own_files(run):
    run.write("w.py", """
        import os, subprocess, sys
        subprocess.run([sys.executable, "-c", "import os; print(os.environ['RACEHUNT_ROLE'])"],
                       check=True)
        if hasattr(os, "fork"):
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            print("forked", pid)
    """)
    run.run(["w.py"])
    assert run.returncode == 0, run.stderr
    lines = run.stdout.split()
    assert lines[0] == "child"
    fork_pid = int(lines[2])
    files = run.event_files()
    assert len(files) == 3, files
    starts = {}
    for f in files:
        pid = int(f.stem.split("-")[1])
        starts[pid] = run.one(run.events(pid), "start")
    roles = sorted(s["role"] for s in starts.values())
    assert roles == ["child", "child", "root"]
    forked = starts[fork_pid]
    assert forked.get("fork") is True
    root = [s for s in starts.values() if s["role"] == "root"][0]
    spawned = [s for p, s in starts.items() if p != fork_pid and s["role"] == "child"][0]
    assert spawned["ppid"] == root["pid"]
    assert spawned["argv"] == ["-c"]
    # Every process has its own decision-stream key.
    assert len({s["process_key"] for s in starts.values()}) == 3
    assert root["process_key"] == run.config["run_seed"]
    # The exec'd child ran to the end: it has main_done and exit.
    kinds = [e["event"] for e in run.events(spawned["pid"])]
    assert kinds == ["start", "main_done", "exit"]


def test_user_sitecustomize_still_runs(run):
    user = run.base / "userpath"
    # It also imports threading before the bootstrap installs itself, which must then
    # patch the already-imported module instead of waiting for the import.
    run.write("userpath/sitecustomize.py", """
        import os, threading
        os.environ["USER_SITECUSTOMIZE_RAN"] = "yes"
    """)
    run.write("w.py", """
        import os, sys, threading
        print(os.environ.get("USER_SITECUSTOMIZE_RAN"), sys.modules["sitecustomize"].__file__)
        def fail():
            raise RuntimeError("early")
        t = threading.Thread(target=fail, name="early-thread")
        t.start()
        t.join()
    """)
    run.run(["w.py"], pythonpath=os.pathsep.join([str(BOOTSTRAP_DIR), str(user)]))
    assert run.returncode == 0, run.stderr
    ran, file = run.stdout.split()
    assert ran == "yes"
    assert Path(file).resolve() == (user / "sitecustomize.py").resolve()
    events = run.events()
    assert run.of(events, "start")
    assert run.one(events, "exception")["thread"] == "early-thread"


def test_user_sitecustomize_runs_without_racehunt(run):
    """Outside a run (no RACEHUNT_PROTOCOL) the bootstrap only chains."""
    user = run.base / "userpath"
    run.write("userpath/sitecustomize.py", "import os\nos.environ['U'] = 'yes'\n")
    run.write("w.py", "import os\nprint(os.environ.get('U'))\n")
    env = run.env(pythonpath=os.pathsep.join([str(BOOTSTRAP_DIR), str(user)]))
    env.pop("RACEHUNT_PROTOCOL")
    out = subprocess.run([run.python, "w.py"], cwd=str(run.base), env=env,
                         stdout=subprocess.PIPE, universal_newlines=True)
    assert out.stdout.strip() == "yes"
    assert run.event_files() == []


def test_isolated_mode_writes_nothing(run):
    run.write("w.py", "print('hi')\n")
    run.run(["-I", "w.py"])
    assert run.returncode == 0
    assert sorted(p.name for p in run.dir.iterdir()) == ["config.json"]


def test_protocol_mismatch(run):
    run.write("w.py", "print('hi')\n")
    run.run(["w.py"], extra={"RACEHUNT_PROTOCOL": "99"})
    assert run.stdout.strip() == "hi"
    events = run.events()
    assert len(events) == 1
    assert events[0]["event"] == "warning" and events[0]["code"] == "protocol_mismatch"


def test_run_as_module(run):
    run.write("pkg/__init__.py", "")
    run.write("pkg/app.py", """
        import sys
        state = {"done": True}
        if __name__ == "__main__":
            print(sys.argv[0].endswith("app.py"))
            sys.exit(4)
    """)
    run.config["checks"]["invariants"] = ["state['done']", "__spec__.name == 'pkg.app'"]
    run.run(["-m", "pkg.app"])
    assert run.returncode == 4
    assert run.stdout.strip() == "True"
    events = run.events()
    assert [i["ok"] for i in run.of(events, "invariant")] == [True, True]


RACE = """
    import threading

    class Counter:
        n = 0

    counter = Counter()

    def work():
        for _ in range(10000):
            v = counter.n
            counter.n = v + 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(40000 - counter.n)
"""


def test_yields_make_lost_update_fire(run):
    race = run.write("race.py", RACE)
    # RACE's read and write have no call between: only free-threaded semantics yields there
    # on 3.10+ (docs/SWITCH_POINTS.md).
    run.config["yields"] = {"probability": 0.05, "granularity": "line", "focus": [str(race)],
                            "semantics": "free-threaded"}
    run.config["checks"]["invariants"] = ["counter.n == 40000"]
    run.run(["race.py"])
    assert run.returncode == 0, run.stderr
    events = run.events()
    start = run.one(events, "start")
    expected = "monitoring" if _version(run.python) >= (3, 12) else "settrace"
    assert start["yields"] == expected
    lost = int(run.stdout)
    assert lost > 0
    counters = run.one(events, "exit")["counters"]
    assert counters["yield_points"] >= 4 * 10000 * 2
    # About one visit in twenty yields.
    assert 0.03 < counters["yields"] / counters["yield_points"] < 0.07
    assert run.one(events, "invariant")["ok"] is False
    assert _warnings(events) == []


@pytest.mark.parametrize("focus", ["/nonexistent/dir/", "glob:*/nothing_*.py", "module:json"])
def test_yields_off_outside_focus(run, focus):
    run.write("race.py", RACE)
    run.config["yields"] = {"probability": 0.05, "granularity": "line", "focus": [focus]}
    run.run(["race.py"])
    assert run.returncode == 0, run.stderr
    counters = run.one(run.events(), "exit")["counters"]
    assert (counters["yield_points"], counters["yields"]) == (0, 0), counters
    # Under sys.settrace racehunt says that native switch points are not enforced.
    assert set(counters) <= {"yield_points", "yields", "native_points_unenforced"}, counters


@pytest.mark.parametrize("form", ["glob", "module", "dir"])
def test_focus_forms(run, form):
    run.write("racemod.py", RACE.replace("print(40000 - counter.n)", "lost = 40000 - counter.n"))
    run.write("w.py", "import racemod\nprint(racemod.lost)\n")
    focus = {"glob": "glob:*/r?cemod.py", "module": "module:racemod",
             "dir": str(run.base) + "/"}[form]
    # Every line a visit (free-threaded semantics): the count says the focus matched.
    run.config["yields"] = {"probability": 0.05, "granularity": "line", "focus": [focus],
                            "semantics": "free-threaded"}
    run.run(["w.py"])
    assert run.returncode == 0, run.stderr
    counters = run.one(run.events(), "exit")["counters"]
    assert counters["yield_points"] >= 80000 and counters["yields"] > 0


@pytest.mark.parametrize("granularity", ["call", "opcode"])
def test_other_granularities(run, granularity):
    run.write("w.py", """
        def f(i):
            return i * 2
        total = 0
        for i in range(2000):
            total += f(i)
        print(total)
    """)
    run.config["yields"] = {"probability": 0.5, "granularity": granularity,
                            "focus": [str(run.base / "w.py")], "log": True}
    run.run(["w.py"])
    assert run.returncode == 0, run.stderr
    counters = run.one(run.events(), "exit")["counters"]
    if granularity == "call":
        # One visit per call of f, plus the module's own code object.
        assert 2000 <= counters["yield_points"] <= 2002
    else:
        assert counters["yield_points"] > 2000 * 4
    assert 0.4 < counters["yields"] / counters["yield_points"] < 0.6


DETERMINISTIC = """
    def step(state, i):
        if i % 3 == 0:
            state.append(i)
        else:
            state.append(-i)
        return len(state)

    state = []
    for i in range(3000):
        step(state, i)
    print(len(state))
"""


def _yield_log(run):
    start = run.one(run.events(), "start")
    return (run.dir / ("yields-%d.log" % start["pid"])).read_text()


def test_same_seed_same_yield_decisions(run):
    script = run.write("det.py", DETERMINISTIC)
    run.config["yields"] = {"probability": 0.05, "granularity": "line",
                            "focus": [str(script)], "log": True}
    logs = []
    for seed in ("00000000000000aa", "00000000000000aa", "00000000000000ab"):
        for f in run.dir.glob("*-*"):
            f.unlink()
        run.config["run_seed"] = seed
        run.run(["det.py"])
        assert run.returncode == 0, run.stderr
        logs.append(_yield_log(run))
    # A header names the process key (the seed's, for the root process), then one line per
    # yield: thread index, file:line, visit, thread name.
    headers = [log.splitlines()[0] for log in logs]
    assert headers[0] == "# racehunt-yields 1 key=00000000000000aa" and headers[2].endswith("ab")
    bodies = [log.split("\n", 1)[1] for log in logs]
    first = bodies[0].splitlines()
    assert len(first) > 100
    index, where, visit, name = first[0].split("\t")
    assert index == "0" and where.startswith(str(script) + ":") and int(visit) > 0
    assert name == "MainThread"
    assert bodies[0] == bodies[1]
    assert bodies[0] != bodies[2]


def test_faulthandler_dump_on_signal_while_deadlocked(run):
    run.write("dead.py", """
        import sys, threading, time
        a, b = threading.Lock(), threading.Lock()
        gate = threading.Barrier(2)
        def one():
            with a:
                gate.wait()
                with b:
                    pass
        def two():
            with b:
                gate.wait()
                with a:
                    pass
        threads = [threading.Thread(target=one, name="locker-one"),
                   threading.Thread(target=two, name="locker-two")]
        for t in threads:
            t.start()
        time.sleep(0.2)
        print("deadlocked", flush=True)
        for t in threads:
            t.join()
    """)
    proc = run.start(["dead.py"])
    try:
        assert proc.stdout.readline().strip() == "deadlocked"
        dump = run.dir / ("faulthandler-%d.txt" % proc.pid)
        names = replay_thread_log((run.dir / ("threads-%d.jsonl" % proc.pid)).read_text())
        proc.send_signal(signal.SIGUSR1)
        deadline = time.time() + 10
        while time.time() < deadline and dump.read_text().count("File ") < 3:
            time.sleep(0.05)
        text = dump.read_text()
        assert proc.poll() is None, "the dump signal must not kill the process"
    finally:
        proc.kill()
        proc.communicate()
    by_ident = {t["ident"]: t["name"] for t in names}
    assert sorted(by_ident.values()) == ["MainThread", "locker-one", "locker-two"]
    # faulthandler prints "Thread 0x<ident>" (or "Current thread 0x...") per thread; each
    # ident maps to a Python name through threads-<pid>.jsonl.
    idents = set()
    for line in text.splitlines():
        if "hread 0x" in line:
            idents.add(int(line.split("0x")[1].split()[0], 16))
    assert idents == set(by_ident), (text, names)
    assert "dead.py" in text


def test_thread_name_map(run):
    run.write("names.py", """
        import json, os, threading
        from concurrent.futures import ThreadPoolExecutor
        long_name = "L" * 40
        release = threading.Event()
        ready = threading.Barrier(3)
        def hold():
            ready.wait()
            release.wait()
        t = threading.Thread(target=hold, name=long_name)
        t.start()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch")
        pool.submit(hold)
        ready.wait()
        path = os.path.join(os.environ["RACEHUNT_RUN_DIR"], "threads-%d.jsonl" % os.getpid())
        with open(path) as f:
            print(json.dumps(f.read()))
        release.set()
        t.join()
        pool.shutdown()
        with open(path) as f:
            print(json.dumps(f.read()))
    """)
    run.run(["names.py"])
    assert run.returncode == 0, run.stderr
    during, after = [replay_thread_log(json.loads(line)) for line in run.stdout.splitlines()]
    assert [t["name"] for t in during] == ["MainThread", "L" * 40, "fetch_0"]
    for entry in during:
        assert set(entry) == {"name", "ident", "native_id", "daemon", "started_at"}
        assert isinstance(entry["ident"], int) and isinstance(entry["native_id"], int)
    assert [t["name"] for t in after] == ["MainThread"]


def test_thread_log_stays_as_long_as_the_live_threads(run):
    # A thread per request, 5,000 of them: the log starts again from a snapshot instead of
    # growing by two lines per thread, and replays to the threads alive at the end.
    run.write("many.py", """
        import threading
        keep = threading.Event()
        held = threading.Thread(target=keep.wait, name="held")
        held.start()
        for i in range(5000):
            t = threading.Thread(target=int, name="req-%d" % i)
            t.start()
            t.join()
        keep.set()
        held.join()
        threading.Thread(target=int, name="last").start()
    """)
    proc = run.run(["many.py"])
    assert run.returncode == 0, run.stderr
    log = (run.dir / ("threads-%d.jsonl" % proc.pid)).read_text()
    assert len(log.splitlines()) <= 2 * 2048 + 2, len(log.splitlines())
    assert [t["name"] for t in replay_thread_log(log)] == ["MainThread"]


def test_a_thread_renamed_after_it_began_has_its_new_name_in_a_dump(run):
    run.write("rename.py", """
        import threading
        stop = threading.Event()
        def work():
            threading.current_thread().name = "renamed-inside"
            print("renamed", flush=True)
            stop.wait()
        t = threading.Thread(target=work, name="as-started", daemon=True)
        t.start()
        t.join()
    """)
    proc = run.start(["rename.py"])
    try:
        assert proc.stdout.readline().strip() == "renamed"
        log = run.dir / ("threads-%d.jsonl" % proc.pid)
        assert "as-started" in [t["name"] for t in replay_thread_log(log.read_text())]
        proc.send_signal(signal.SIGUSR1)
        deadline = time.time() + 10
        while time.time() < deadline and not (run.dir / ("dumped-%d" % proc.pid)).exists():
            time.sleep(0.05)
        names = [t["name"] for t in replay_thread_log(log.read_text())]
    finally:
        proc.kill()
        proc.communicate()
    assert names == ["MainThread", "renamed-inside"], names


def test_workload_settrace_not_fought(run):
    script = run.write("tr.py", """
        import sys
        calls = []
        def tracer(frame, event, arg):
            if event == "call":
                calls.append(frame.f_code.co_name)
            return None
        def target():
            return 1
        sys.settrace(tracer)
        target()
        sys.settrace(None)
        print(calls.count("target"))
    """)
    run.config["yields"] = {"probability": 0.1, "granularity": "line", "focus": [str(script)]}
    run.run(["tr.py"])
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "1"
    warnings = _warnings(run.events())
    if _version(run.python) >= (3, 12):
        assert warnings == []       # sys.monitoring and sys.settrace coexist
    else:
        assert len(warnings) == 1 and "trace function" in warnings[0]


def test_racehunt_check(run):
    run.write("chk.py", """
        import threading, racehunt
        hold = threading.Event()
        t = threading.Thread(target=hold.wait, name="waiter")
        t.start()
        print(racehunt.active(), racehunt.check(1 + 1 == 2, "fine"),
              racehunt.check(False, "balance went negative"))
        hold.set()
        t.join()
    """)
    run.run(["chk.py"])
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True", "None", "None"]
    failed = run.one(run.events(), "check_failed")
    assert failed["message"] == "balance went negative"
    assert failed["thread"] == "MainThread"
    by_name = {t["name"]: t for t in failed["threads"]}
    assert set(by_name) == {"MainThread", "waiter"}
    assert by_name["MainThread"]["frames"][-1][0].endswith("chk.py")
    assert by_name["waiter"]["frames"][-1][2] == "wait"

    # Outside racehunt the helper is a no-op.
    env = run.env()
    env.pop("RACEHUNT_PROTOCOL")
    out = subprocess.run([run.python, "-c", "import racehunt; print(racehunt.active(), "
                          "racehunt.check(False, 'x'))"], env=env, cwd=str(run.base),
                         stdout=subprocess.PIPE, universal_newlines=True)
    assert out.stdout.split() == ["False", "None"]
