"""Interpreter wrappers: `python = "python3"` often finds a wrapper
such as pyenv's shim, a bash script that runs several processes before it execs the chosen
interpreter. racehunt asks the interpreter once per campaign which executable really runs
and starts that one; a `command` workload that goes through a wrapper keeps racehunt's shim
dormant in every process that is not Python.

The wrapper of most tests is a small bash script written here (it works on any machine);
the pyenv tests run only where pyenv's shim is installed.

Run:  RACEHUNT_BUILD_DIR=build /usr/bin/python3 -m pytest tests/e2e/test_wrappers.py
"""
import os
import re
import sys
from pathlib import Path

import pytest

from racehunt_testlib import DEBIAN_PYTHON, pyenv_python, pyenv_root, scenario_toml

OUT = Path("racehunt-out") / "t"
PYENV_SHIM = pyenv_root() / "shims" / "python3"
REAL = DEBIAN_PYTHON if os.path.exists(DEBIAN_PYTHON) else sys.executable

# A stand-in for pyenv's shim: it records each start (its pid), runs a helper program,
# sets a variable the interpreter needs, and execs the real interpreter.
WRAPPER = """#!/bin/bash
here="$(dirname "$0")"
echo "$$" >> "$here/wrapper-starts.log"
export WRAPPED_BY=test-wrapper
exec %s %s"$@"
"""

# Every Python process of a run notes its pid, executable and the wrapper's variable.
NOTE = """import os, sys
def note(role):
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "seen.txt"), "a") as f:
        f.write("%s %d %s %s %s\\n" % (role, os.getpid(), sys.executable, os.environ.get("WRAPPED_BY", "-"),
                                      sorted(getattr(sys, "_xoptions", {}))))
"""

# The workload: a shell child (not Python) and a Python child, then it fails when told to.
WORKLOAD = """import os, subprocess, sys
import note
note.note("root")
subprocess.run(["sh", "-c", "true"], check=True)
subprocess.run([sys.executable, "-c", "import note; note.note('child')"], check=True)
if os.environ.get("FAIL") == "1":
    assert False, "planned failure"
"""

SHIM = 'shim = { probability = 0.2, max_delay = "20us" }'


def write_wrapper(rh, real=REAL, options=""):
    path = rh.dir / "py-wrapper"
    path.write_text(WRAPPER % (real, options))
    path.chmod(0o755)
    return path


def seen(rh):
    """[(role, pid, executable, WRAPPED_BY, xoptions)] of every Python process so far."""
    p = rh.dir / "seen.txt"
    rows = []
    for line in (p.read_text().splitlines() if p.exists() else []):
        role, pid, exe, wrapped, xopts = line.split(" ", 4)
        rows.append((role, int(pid), exe, wrapped, xopts))
    return rows


def wrapper_starts(rh):
    p = rh.dir / "wrapper-starts.log"
    return p.read_text().split() if p.exists() else []


def pids(run_dir, pattern):
    return {int(m.group(1)) for m in (re.fullmatch(pattern, n) for n in os.listdir(run_dir)) if m}


def failure_dirs(rh, out=OUT):
    d = rh.dir / out / "failures"
    return sorted(p for p in d.iterdir() if p.is_dir()) if d.exists() else []


def check_one_shim_log_per_python_process(r, run_dir):
    """The shim's files of a failing run are those of its Python processes, one each: the
    processes with a bootstrap report (py-<pid>.jsonl)."""
    python = pids(run_dir, r"py-(\d+)\.jsonl")
    dlogs = pids(run_dir, r"shim-(\d+)\.dlog")
    counters = pids(run_dir, r"shim-(\d+)\.bin")
    assert len(python) == 2, (sorted(os.listdir(run_dir)), r.explain())
    assert dlogs == python and counters == python, (sorted(os.listdir(run_dir)), r.explain())
    listed = {int(x) for x in re.findall(r"^process (\d+)", (run_dir / "decisions.txt").read_text(), re.M)}
    assert listed <= python, ((run_dir / "decisions.txt").read_text(), r.explain())
    return python


def test_a_wrapper_named_as_the_interpreter_is_asked_once_and_runs_start_the_real_one(rh):
    wrapper = write_wrapper(rh)
    s = rh.scenario(scenario_toml(python="./py-wrapper", jitter=SHIM, runs=3), {"w.py": WORKLOAD, "note.py": NOTE})
    r = rh.run(s)
    assert r.returncode == 0, r.explain()
    # The header names both: the wrapper and the interpreter the runs start.
    assert "(%s -> %s)" % (wrapper, REAL) in r.stderr, r.explain()
    # The wrapper ran once, for the probe; no run started it.
    assert len(wrapper_starts(rh)) == 1, (wrapper_starts(rh), r.explain())
    rows = seen(rh)
    assert len(rows) == 6, rows
    for role, pid, exe, wrapped, _ in rows:
        assert exe == REAL, rows
        # What the wrapper sets in the environment reaches the runs (and their children).
        assert wrapped == "test-wrapper", rows
    for rec in r.records(rh.dir / OUT):
        assert rec["counters"]["shim"]["processes"] == 2, rec["counters"]
        assert rec["counters"]["python_processes"] == 2, rec["counters"]


def test_a_real_interpreter_is_named_alone(rh):
    s = rh.scenario(scenario_toml(python=REAL, runs=1), {"w.py": "pass\n"})
    r = rh.run(s)
    assert r.returncode == 0, r.explain()
    assert "(%s)" % REAL in r.stderr and " -> " not in r.stderr, r.explain()


def shim_logs_match_python_processes(rh, r, runs):
    """Each of the `runs` failures has one shim log per Python process and no other; the
    Python processes are the ones the workload saw. Returns their pids."""
    dirs = failure_dirs(rh)
    assert len(dirs) == runs, r.explain()
    python = set()
    for d in dirs:
        python |= check_one_shim_log_per_python_process(r, d)
    assert python == {pid for _, pid, _, _, _ in seen(rh)}, (python, seen(rh))
    return python


def test_a_failing_run_through_a_wrapper_has_one_shim_log_per_python_process(rh):
    write_wrapper(rh)
    s = rh.scenario(scenario_toml(python="./py-wrapper", jitter=SHIM, runs=2, extra='env = { FAIL = "1" }'),
                    {"w.py": WORKLOAD, "note.py": NOTE})
    r = rh.run(s)
    assert r.returncode == 1, r.explain()
    shim_logs_match_python_processes(rh, r, 2)


def test_replay_and_fork_server_starts_use_the_real_interpreter(rh):
    write_wrapper(rh)
    s = rh.scenario(scenario_toml(python="./py-wrapper", jitter=SHIM, runs=2), {"w.py": WORKLOAD, "note.py": NOTE})
    r = rh.run(s, "--start", "fork-server")
    assert r.returncode == 0, r.explain()
    assert "runs start fresh" not in r.stderr, r.explain()
    seed = r.records(rh.dir / OUT)[0]["seed"]
    again = rh.run("replay", s, "--seed", seed, "--repeat", 2, "--out", rh.dir / "replay")
    assert again.returncode == 0, again.explain()
    assert " -> %s)" % REAL in again.stderr, again.explain()
    # One probe per command, nothing else.
    assert len(wrapper_starts(rh)) == 2, (wrapper_starts(rh), r.explain(), again.explain())
    rows = seen(rh)
    assert len(rows) == 8 and all(exe == REAL and w == "test-wrapper" for _, _, exe, w, _ in rows), rows


def test_interpreter_options_the_wrapper_passes_are_kept(rh):
    # -X sets an arbitrary option that the interpreter keeps in sys._xoptions.
    write_wrapper(rh, options="-X rh_wrapped ")
    s = rh.scenario(scenario_toml(python="./py-wrapper", runs=2), {"w.py": WORKLOAD, "note.py": NOTE})
    r = rh.run(s)
    assert r.returncode == 0, r.explain()
    assert len(wrapper_starts(rh)) == 1, r.explain()
    rows = seen(rh)
    roots = [row for row in rows if row[0] == "root"]
    assert len(roots) == 2 and all(exe == REAL and xo == "['rh_wrapped']" for _, _, exe, _, xo in roots), rows
    # A fork server cannot take them per run: the runs start fresh, and say so.
    again = rh.run(s, "--start", "fork-server", "--out", rh.dir / "fs")
    assert again.returncode == 0, again.explain()
    assert "passes it options (-X rh_wrapped); runs start fresh" in again.stderr, again.explain()


# A wrapper a `command` workload starts its Python through: it stays the interpreter's
# parent (no exec) and runs helper programs, all of them processes that are not Python.
COMMAND_WRAPPER = """#!/bin/bash
here="$(dirname "$0")"
echo "$$" >> "$here/wrapper-starts.log"
cat /dev/null
%s "$@"
status=$?
true
exit $status
"""


def test_a_command_through_a_wrapper_leaves_no_trace_of_the_shim_outside_python(rh):
    (rh.dir / "wrapper.sh").write_text(COMMAND_WRAPPER % REAL)
    toml = scenario_toml(command=["bash", "wrapper.sh", "w.py"], python=None, jitter=SHIM, runs=2,
                         extra='env = { FAIL = "1" }')
    s = rh.scenario(toml, {"w.py": WORKLOAD, "note.py": NOTE})
    r = rh.run(s)
    assert r.returncode == 1, r.explain()
    python = shim_logs_match_python_processes(rh, r, 2)
    # The wrapper (bash, still alive as the interpreter's parent) had the shim preloaded
    # and left nothing.
    bash = {int(p) for p in wrapper_starts(rh)}
    assert len(bash) == 2 and not bash & python, (bash, python)
    for rec in r.records(rh.dir / OUT):
        assert rec["counters"]["shim"]["processes"] == 2, rec["counters"]


pyenv = pytest.mark.skipif(not PYENV_SHIM.exists(), reason="pyenv's shim %s is not installed" % PYENV_SHIM)


def pyenv_version_besides_the_global_one():
    """(version, interpreter) of an installed pyenv version racehunt supports, preferring
    one that is not the global default, so that only .python-version can select it."""
    root = PYENV_SHIM.parents[1]
    try:
        default = (root / "version").read_text().split()[0]
    except (OSError, IndexError):
        default = None
    found = [(p, Path(p).parents[1].name) for p in filter(None, (pyenv_python(v) for v in ("3.12", "3.11", "3.13", "3.10")))]
    found.sort(key=lambda pv: pv[1] == default)
    if not found:
        pytest.skip("no pyenv Python 3.10+ installed")
    return found[0][1], found[0][0]


@pyenv
def test_pyenvs_shim_is_resolved_in_the_runs_directory(rh):
    version, real = pyenv_version_besides_the_global_one()
    # pyenv reads .python-version in the current directory: the runs' (the scenario's
    # directory), not the one racehunt is started from.
    (rh.dir / ".python-version").write_text(version + "\n")
    elsewhere = rh.dir / "elsewhere"
    elsewhere.mkdir()
    s = rh.scenario(scenario_toml(python=str(PYENV_SHIM), jitter=SHIM, runs=2, extra='env = { FAIL = "1" }'),
                    {"w.py": WORKLOAD, "note.py": NOTE})
    # An outer PYENV_VERSION would win over .python-version; empty is unset for pyenv.
    r = rh.run(s, "--out", rh.dir / OUT, cwd=elsewhere, env={"PYENV_VERSION": ""})
    assert r.returncode == 1, r.explain()
    assert "Python %s (%s -> %s)" % (version, PYENV_SHIM, real) in r.stderr, r.explain()
    rows = seen(rh)
    assert len(rows) == 4 and all(exe == real for _, _, exe, _, _ in rows), rows
    for d in failure_dirs(rh):
        check_one_shim_log_per_python_process(r, d)


@pyenv
def test_a_command_through_pyenvs_shim_has_shim_files_for_python_processes_only(rh):
    toml = scenario_toml(command=[str(PYENV_SHIM), "w.py"], python=None, jitter=SHIM, runs=2,
                         extra='env = { FAIL = "1" }')
    s = rh.scenario(toml, {"w.py": WORKLOAD, "note.py": NOTE})
    r = rh.run(s)
    assert r.returncode == 1, r.explain()
    dirs = failure_dirs(rh)
    assert len(dirs) == 2, r.explain()
    for d in dirs:
        check_one_shim_log_per_python_process(r, d)
    for rec in r.records(rh.dir / OUT):
        assert rec["counters"]["shim"]["processes"] == 2, rec["counters"]
