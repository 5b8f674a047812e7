"""A run at its timeout: stuck, or slowed by racehunt's own perturbation (harness/run/calm).

A perturbed run that is busy at the timeout is calmed (yield points, asyncio
perturbations and the shim turned off) and given a grace period: one that then finishes
and passes is `slow`, not a failure; one that does not is a hang. An idle run is a hang at
once, and a run racehunt does not perturb is never calmed.

Every check here is deterministic: the slowed workload needs several times its timeout
under the perturbation and a small share of it without; the spinning and deadlocked ones
never finish.
"""
from pathlib import Path

import pytest

from racehunt_testlib import DEBIAN_PYTHON, pyenv_python, scenario_toml

OUT = "racehunt-out/t"

# Two threads, 200,000 loop iterations each: about 0.25 s plain on this machine, many
# seconds with a yield point at every other opcode of the loop.
SLOWED = """\
import threading
N = 200000
total = [0]
lock = threading.Lock()
def work():
    s = 0
    for i in range(N):
        s += i
    with lock:
        total[0] += s
ts = [threading.Thread(target=work) for _ in range(2)]
for t in ts: t.start()
for t in ts: t.join()
"""

SPIN = """\
import threading
flag = []
def spin():
    n = 0
    while not flag:
        n += 1
ts = [threading.Thread(target=spin) for _ in range(2)]
for t in ts: t.start()
for t in ts: t.join()
"""

DEADLOCK = """\
import threading
a, b = threading.Lock(), threading.Lock()
ev = threading.Event()
def one():
    with a:
        ev.wait()
        with b: pass
def two():
    with b:
        ev.set()
        with a: pass
ts = [threading.Thread(target=one), threading.Thread(target=two)]
for t in ts: t.start()
for t in ts: t.join()
"""

# Opcode yield points at every other visit, on the workload's own file only.
HEAVY = 'yields = { probability = 0.5, focus = ["w.py"], granularity = "opcode" }'
CALMED = "busy at the timeout under racehunt's perturbation"


def scenario(rh, script, jitter, timeout="1s", runs=2, python=DEBIAN_PYTHON):
    return rh.scenario(scenario_toml(python=python, timeout=timeout, jitter=jitter,
                                     runs=runs, seed=1, jobs=2), {"w.py": script})


# settrace (3.8, Debian's 3.11) and sys.monitoring (3.12) detach differently.
@pytest.mark.parametrize("python", [pytest.param(DEBIAN_PYTHON, id="3.11-debian"),
                                    pytest.param("3.8", id="3.8"), pytest.param("3.12", id="3.12")])
def test_a_run_the_perturbation_slowed_past_its_timeout_is_slow_not_a_failure(rh, python):
    if python != DEBIAN_PYTHON:
        python = pyenv_python(python)
        if python is None:
            pytest.skip("no pyenv build of this version")
    s = scenario(rh, SLOWED, HEAVY, python=python)
    r = rh.run(s)
    assert r.returncode == 0, r.explain()
    recs = r.records(rh.dir / OUT)
    assert [x["outcome"] for x in recs] == ["slow", "slow"], recs
    for x in recs:
        assert x["signature"] == "slow"
        assert any("then finished and passed" in reason for reason in x["reasons"]), x["reasons"]
        # Its regime is in the record, and its perturbation was on until the timeout.
        assert x["jitter"]["yields"]["probability"] == 0.5
        assert x["counters"]["python"]["yields"] > 0
        assert x["artifacts"] is None
    summ = r.summary(rh.dir / OUT)["scenarios"][0]
    assert summ["outcomes"]["slow"] == 2 and summ["failures"] == 0
    assert "2 runs slow: busy at the timeout under racehunt's perturbation" in r.stdout, r.stdout
    # Turning the perturbation off is racehunt's doing: no warning blames the workload.
    assert "never ran racehunt's bootstrap" not in r.stdout
    assert "trace function was replaced" not in r.stdout


def hangs(rh, script, jitter, *args):
    """The records of two runs of `script`, each of which must be a hang."""
    r = rh.run(scenario(rh, script, jitter), *args)
    assert r.returncode == 1, r.explain()
    recs = r.records(rh.dir / OUT)
    assert [x["outcome"] for x in recs] == ["hang", "hang"], recs
    return recs


def test_a_run_that_still_spins_once_calmed_is_a_hang_that_says_so(rh):
    for x in hangs(rh, SPIN, HEAVY):
        assert any(CALMED in reason and "still did not finish" in reason for reason in x["reasons"]), x
        assert x["signature"].startswith("hang@w.py"), x["signature"]
        assert (Path(x["artifacts"]) / "calm").exists()


def test_an_idle_run_is_a_hang_at_once_and_is_not_calmed(rh):
    for x in hangs(rh, DEADLOCK, HEAVY):
        assert not any(CALMED in reason for reason in x["reasons"]), x["reasons"]
        # The harness writes `calm` into the run directory of a run it calms only.
        assert not (Path(x["artifacts"]) / "calm").exists()


def test_a_run_racehunt_does_not_perturb_is_never_calmed(rh):
    for x in hangs(rh, SPIN, "", "--profile", "none"):
        assert not any(CALMED in reason for reason in x["reasons"]), x["reasons"]
