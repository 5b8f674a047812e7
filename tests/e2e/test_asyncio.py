"""The asyncio layer: seeded shuffles and deferrals of task resumptions, pending
tasks in dumps, asyncio warnings as a check, and the asyncio example scenarios.

The examples' workloads make the same sequence of ready queues in every run (their awaits
do not wait on the clock), so under `--profile none` they are deterministic: the `none`
baselines below are exact, not statistical. Under `default` the failure counts are
statistical; the thresholds sit far below the rates measured (bench/RESULTS.md).
"""
import re
from pathlib import Path

import pytest

from racehunt_testlib import DEBIAN_PYTHON, REPO, outcome_counts, pyenv_python, scenario_toml

SC = REPO / "scenarios"

EXAMPLES = [
    ("async-cache-double-fetch", "fail:invariant:len(fetches) == 1"),
    ("async-counter-lost-update", 'fail:invariant:stats["requests"] == REQUESTS'),
    ("async-lost-cancellation", "hang@uploader.py:uploader"),
]


def hunt(rh, name, runs, *extra, python=DEBIAN_PYTHON, timeout="10s"):
    # The timeout: the examples' 3 s (lost cancellation) judges a run that merely started
    # slowly under load a hang at <module>; 10 s leaves the real hang its signature, and the
    # runs that must pass get 60 s, so that only a real hang fails them.
    out = rh.dir / ("out-%s-%d-%s" % (name, runs, "-".join(str(e) for e in extra).replace("/", "_")))
    r = rh.run(SC / name / "scenario.toml", "--runs", runs, "--python", python, "--timeout", timeout,
               "--out", out, "--quiet", *extra)
    assert r.returncode in (0, 1), r.explain()
    recs = r.records(out)
    return r, recs, outcome_counts(recs), out


def loop_log(run_dir):
    logs = sorted(Path(run_dir).glob("loop-*.log"))
    assert len(logs) == 1, (run_dir, logs)
    return logs[0].read_text()


@pytest.mark.statistical
@pytest.mark.parametrize("name,signature", EXAMPLES)
def test_example_fails_under_default_and_never_under_none(rh, name, signature):
    _, _, none_counts, _ = hunt(rh, name, 60, "--profile", "none", timeout="60s")
    assert none_counts == {"pass": 60}, none_counts
    r, recs, counts, _ = hunt(rh, name, 200, "--profile", "default", "--stop-after", 3)
    failed = [x for x in recs if x["outcome"] != "pass"]
    # Chance of failing: the seeded loop decisions decide these single-threaded workloads, so
    # the scenarios' campaign seed 1 fails in the same runs every time. Measured under load
    # (tests/stress.sh, 6 rounds, 3 of them beside a bank campaign on both cores; load
    # average 3-9): the third failure
    # came at run 15 (cache), 10 (counter) and 99 (cancellation) in every round, and the
    # `none` campaigns passed 60 of 60 each time. The one outcome the clock could flip is a run slowed
    # past its timeout, which is why the hunts run with 10 s (a run takes 0.3-1.2 s): at the
    # scenario's 3 s, 1 run of 300 under load was a false `hang@uploader.py:<module>`.
    assert len(failed) >= 3, counts
    assert {x["signature"] for x in failed} == {signature}, {x["signature"] for x in failed}
    # The failing runs' perturbations came from the loop layer, and the record says so.
    first = failed[0]
    assert first["jitter"]["asyncio"]["shuffle"] > 0 or first["jitter"]["asyncio"]["defer"] > 0
    python = first["counters"]["python"]      # a hung run's come from the dump signal
    assert python["loop_iterations"] > 10
    assert python["loop_shuffles"] + python["loop_deferrals"] > 0, python
    assert ("replay: %s replay" % rh.printed) in r.stdout or "--quiet" in r.argv


@pytest.mark.statistical
@pytest.mark.parametrize("name", ["async-cache-double-fetch-fixed", "async-counter-lost-update-fixed",
                                  "async-lost-cancellation-fixed"])
def test_fixed_example_passes_every_run_under_aggressive(rh, name):
    # Must never fail: there is no race to lose. Under load (tests/stress.sh, 6 rounds): 60 of
    # 60 passed each time, the longest run 8.6 s of the 60 s these get.
    _, recs, counts, _ = hunt(rh, name, 60, "--profile", "aggressive", timeout="60s")
    assert counts == {"pass": 60}, (counts, [x["reasons"] for x in recs if x["outcome"] != "pass"][:3])
    moved = sum(x["counters"]["python"].get("loop_shuffles", 0) + x["counters"]["python"].get("loop_deferrals", 0)
                for x in recs)
    assert moved > 60, "aggressive runs perturbed the loop %d times in all" % moved


@pytest.mark.slow
@pytest.mark.parametrize("name", ["async-cache-double-fetch-fixed", "async-counter-lost-update-fixed",
                                  "async-lost-cancellation-fixed"])
def test_fixed_example_passes_500_of_500_under_default(rh, name):
    _, recs, counts, _ = hunt(rh, name, 500, "--profile", "default", "-j", 2, timeout="60s")
    assert counts == {"pass": 500}, counts


def test_a_seed_replays_the_same_task_order(rh):
    r, recs, counts, out = hunt(rh, "async-counter-lost-update", 20, "--profile", "default",
                                "--seed", 7)
    failing = [x for x in recs if x["outcome"] == "fail"]
    assert failing, counts
    seed = failing[0]["seed"]
    original = loop_log(failing[0]["artifacts"])
    decisions = [l for l in original.splitlines() if not l.startswith("#")]
    assert decisions and all(re.match(r"^0\t\d+\t(shuffle\tTask-\d+(,Task-\d+)+|defer\tTask-\d+\t\d)$", l)
                             for l in decisions), original
    again = rh.dir / "again"
    r = rh.run("replay", SC / "async-counter-lost-update" / "scenario.toml", "--seed", seed,
               "--repeat", 5, "--python", DEBIAN_PYTHON, "--quiet", "--out", again)
    assert r.returncode == 1, r.explain()
    replays = sorted((again / "failures").iterdir())
    assert len(replays) == 5, replays
    for d in replays:
        assert loop_log(d) == original, d
    # The decision log names the loop decisions in words.
    text = (Path(failing[0]["artifacts"]) / "decisions.txt").read_text()
    assert re.search(r"asyncio loop: \d+ decision\(s\)", text), text[:1500]
    assert re.search(r'loop 0  iteration \d+  (task "Task-\d+" deferred by \d iteration\(s\)|shuffle: Task-)', text)


@pytest.mark.statistical
def test_a_stuck_task_is_named_in_the_hang_dump(rh):
    # Seeded loop decisions decide whether a run hangs: under load (tests/stress.sh, 6
    # rounds) one hang within the first 33-43 runs every time, of 200 allowed.
    r, recs, counts, out = hunt(rh, "async-lost-cancellation", 200, "--profile", "default",
                                "--stop-after", 1)
    hang = next((x for x in recs if x["outcome"] == "hang"), None)
    assert hang is not None, counts
    assert hang["signature"] == "hang@uploader.py:uploader"
    dump = (Path(hang["artifacts"]) / "dump.txt").read_text()
    assert 'asyncio loop in thread "MainThread": 2 pending tasks' in dump, dump
    assert re.search(r'task "uploader"\n\s+waits for Queue\.get\(\) \(queues\.py:\d+\)\n'
                     r'.*File ".*uploader\.py", line \d+, in uploader', dump), dump
    assert re.search(r'task "Task-1"\n\s+waits for task "uploader" to finish', dump), dump
    assert rh.survivors() == []


DEADLOCK = '''
import asyncio

async def transfer(name, first, second):
    async with first:
        await asyncio.sleep(0)
        async with second:
            pass

async def main():
    a, b = asyncio.Lock(), asyncio.Lock()
    await asyncio.gather(asyncio.create_task(transfer("x", a, b), name="a-then-b"),
                         asyncio.create_task(transfer("y", b, a), name="b-then-a"))

asyncio.run(main())
'''


def test_a_deadlock_between_tasks_is_named_with_its_locks(rh):
    s = rh.scenario(scenario_toml(timeout="1s", runs=1, jitter='profile = "none"'), {"w.py": DEADLOCK})
    out = rh.dir / "o"
    r = rh.run(s, "--quiet", "--out", out)
    assert r.returncode == 1, r.explain()
    rec = r.records(out)[0]
    assert rec["outcome"] == "hang"
    assert rec["signature"] in ("hang:deadlock@w.py:transfer",), rec["signature"]
    dump = (Path(rec["artifacts"]) / "dump.txt").read_text()
    assert re.search(r'DEADLOCK between asyncio tasks in process \d+: task "(a-then-b|b-then-a)" waits for '
                     r'(first|second) \(asyncio\.locks\.Lock at 0x[0-9a-f]+\) held by task "(b-then-a|a-then-b)"', dump), dump
    assert re.search(r'task "a-then-b"\n\s+waits for second \(asyncio\.locks\.Lock at 0x[0-9a-f]+\), '
                     r'held by task "b-then-a"\n\s+holds first \(asyncio\.locks\.Lock', dump), dump


UNRETRIEVED = '''
import asyncio

async def boom():
    raise ValueError("nobody looks at me")

async def main():
    task = asyncio.create_task(boom(), name="fire-and-forget")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    del task

asyncio.run(main())
'''

NEVER_AWAITED = '''
import asyncio

async def save(record):
    await asyncio.sleep(0)

async def main():
    save({"id": 1})          # missing await
    await asyncio.sleep(0)

asyncio.run(main())
'''


@pytest.mark.parametrize("workload,signature,reason", [
    (UNRETRIEVED, "fail:asyncio:unretrieved-exception:ValueError@w.py:boom",
     'asyncio: task "fire-and-forget"\'s exception was never retrieved: ValueError: nobody looks at me at w.py:5 in boom()'),
    (NEVER_AWAITED, "fail:asyncio:never-awaited@main.<locals>.save",
     "asyncio: coroutine 'save' was never awaited at w.py:4 in save()"),
])
def test_asyncio_warnings_fail_warn_or_are_ignored(rh, workload, signature, reason):
    if "never-awaited" in signature:
        signature = "fail:asyncio:never-awaited@w.py:save"
    results = {}
    for mode in ("fail", "warn", "ignore"):
        s = rh.scenario(scenario_toml(runs=2, jitter='profile = "none"',
                                      check='asyncio_warnings = "%s"' % mode),
                        {"w.py": workload}, name="%s.toml" % mode)
        out = rh.dir / ("o-" + mode)
        r = rh.run(s, "--quiet", "--out", out)
        results[mode] = (r, r.records(out))
    r, recs = results["fail"]
    assert r.returncode == 1, r.explain()
    assert [x["signature"] for x in recs] == [signature] * 2, recs[0]
    assert reason in recs[0]["reasons"], recs[0]["reasons"]
    r, recs = results["warn"]
    assert r.returncode == 0, r.explain()
    assert [x["outcome"] for x in recs] == ["pass"] * 2
    assert reason in recs[0]["warnings"], recs[0]["warnings"]
    r, recs = results["ignore"]
    assert r.returncode == 0 and [x["outcome"] for x in recs] == ["pass"] * 2
    assert not any("asyncio:" in w for w in recs[0].get("warnings", [])), recs[0]


ORDER = '''
import asyncio, sys

async def worker(i, log):
    for k in range(20):
        log.append(i)
        await asyncio.sleep(0)

async def victim(never):
    await asyncio.sleep(0)
    await never.wait()
    raise AssertionError("a cancelled task ran on")

async def main():
    loop = asyncio.get_running_loop()
    log, calls = [], []
    # Plain callbacks keep their documented first-in-first-out order, whatever the layer
    # does to the tasks around them.
    for i in range(200):
        loop.call_soon(calls.append, i)
    tasks = [asyncio.create_task(worker(i, log)) for i in range(8)]
    never = asyncio.Event()
    victims = [asyncio.create_task(victim(never)) for _ in range(20)]
    await asyncio.sleep(0)
    for v in victims:
        v.cancel()
    results = await asyncio.gather(*victims, return_exceptions=True)
    await asyncio.gather(*tasks)
    assert calls == list(range(200)), calls[:20]
    assert sorted(log) == sorted(list(range(8)) * 20)
    assert all(isinstance(x, asyncio.CancelledError) for x in results), results
    fut = loop.create_future()
    handle = loop.call_soon(fut.set_result, 1)
    handle.cancel()
    await asyncio.sleep(0)
    assert not fut.done()
    if log != sorted(log, key=lambda i: 0):
        print("task order differed from first-in-first-out")

asyncio.run(main())
'''


def test_the_layer_changes_task_order_only(rh):
    s = rh.scenario(scenario_toml(runs=20, jitter='profile = "none"\n[jitter.asyncio]\nshuffle = 1.0\ndefer = 0.5'),
                    {"w.py": ORDER})
    out = rh.dir / "o"
    r = rh.run(s, "-j", 2, "--quiet", "--out", out)
    assert r.returncode == 0, r.explain()
    recs = r.records(out)
    assert [x["outcome"] for x in recs] == ["pass"] * 20, [x["reasons"] for x in recs]
    for x in recs:
        python = x["counters"]["python"]
        assert python["loop_shuffles"] > 5 and python["loop_deferrals"] > 20, python
        assert x["jitter"]["asyncio"] == {"shuffle": 1.0, "defer": 0.5}


MANY_LOOPS = '''
import asyncio, threading

async def spin(n):
    async def one(i):
        for _ in range(10):
            await asyncio.sleep(0)
    await asyncio.gather(*(one(i) for i in range(n)))

def in_thread():
    asyncio.run(spin(4))

t = threading.Thread(target=in_thread, name="loop-thread")
t.start(); t.join()
loop = asyncio.new_event_loop()           # a loop made by hand, no asyncio.run
loop.run_until_complete(spin(4))
loop.close()
raise SystemExit(4)         # a failing run keeps its directory
'''


def test_every_loop_is_perturbed_in_any_thread(rh):
    s = rh.scenario(scenario_toml(runs=1, jitter='profile = "none"\n[jitter.asyncio]\nshuffle = 1.0\ndefer = 0.2'),
                    {"w.py": MANY_LOOPS})
    out = rh.dir / "o"
    r = rh.run(s, "--quiet", "--out", out)
    assert r.returncode == 1, r.explain()
    rec = r.records(out)[0]
    assert rec["signature"] == "fail:exit-code:4"
    assert rec["counters"]["python"]["loop_shuffles"] > 0
    run_dir = Path(rec["artifacts"])
    loops = {l.split("\t")[0] for l in loop_log(run_dir).splitlines() if not l.startswith("#")}
    assert loops == {"0", "1"}, loop_log(run_dir)


def test_a_workload_without_asyncio_pays_nothing(rh):
    s = rh.scenario(scenario_toml(runs=2, jitter='[jitter.asyncio]\nshuffle = 1.0'),
                    {"w.py": "import sys\nassert 'asyncio' not in sys.modules\n"})
    out = rh.dir / "o"
    r = rh.run(s, "--quiet", "--out", out)
    assert r.returncode == 0, r.explain()
    for x in r.records(out):
        assert "loop_iterations" not in x["counters"].get("python", {}), x["counters"]


@pytest.mark.statistical
@pytest.mark.parametrize("version", ["3.8", "3.13"])
def test_other_pythons(rh, version):
    python = pyenv_python(version)
    if python is None:
        pytest.skip("no pyenv Python %s" % version)
    # Seeded loop decisions decide (see the test above). Under load (tests/stress.sh, 6
    # rounds): none 0/20, default 7/30 (3 needed) and a hang within 33-43 runs, every round.
    _, _, none_counts, _ = hunt(rh, "async-counter-lost-update", 20, "--profile", "none", python=python,
                                timeout="60s")
    assert none_counts == {"pass": 20}
    _, recs, counts, _ = hunt(rh, "async-counter-lost-update", 30, "--profile", "default", python=python)
    assert counts.get("fail", 0) >= 3, counts
    _, recs, counts, _ = hunt(rh, "async-lost-cancellation", 200, "--profile", "default",
                              "--stop-after", 1, python=python)
    hang = next(x for x in recs if x["outcome"] == "hang")
    assert hang["signature"] == "hang@uploader.py:uploader"


@pytest.mark.statistical
@pytest.mark.parametrize("preload", [False, True])
def test_fork_server_runs_perturb_loops_too(rh, preload):
    # Preloaded, asyncio is patched when the forked run installs the bootstrap; else when
    # the run imports it. Seeded loop decisions decide: 11/40 failed in each of 6 rounds
    # under load (tests/stress.sh), both ways (4 needed).
    workload = (SC / "async-counter-lost-update" / "metrics.py").read_text()
    s = rh.scenario(scenario_toml(script="metrics.py", runs=40,
                                  check='invariants = ["stats[\'requests\'] == REQUESTS"]',
                                  extra="") + 'start = "fork-server"\n' +
                    ('preload = ["asyncio"]\n' if preload else ""), {"metrics.py": workload})
    out = rh.dir / "o"
    r = rh.run(s, "-j", 2, "--quiet", "--out", out)
    assert r.returncode == 1, r.explain()
    recs = r.records(out)
    counts = outcome_counts(recs)
    assert counts.get("fail", 0) >= 4 and set(counts) == {"pass", "fail"}, counts
    assert all(x.get("start") == "fork-server" for x in recs), recs[0]
    assert all(x["counters"]["python"]["loop_iterations"] > 10 for x in recs)


RAISES = '''
import asyncio

async def waiter(event):
    await event.wait()

async def main():
    event = asyncio.Event()
    asyncio.create_task(waiter(event), name="waiter")
    await asyncio.sleep(0)
    raise RuntimeError("boom")

asyncio.run(main())
'''


def test_a_failure_shows_the_tasks_asyncio_run_left_pending(rh):
    s = rh.scenario(scenario_toml(runs=1, jitter='profile = "none"'), {"w.py": RAISES})
    out = rh.dir / "o"
    r = rh.run(s, "--quiet", "--out", out)
    assert r.returncode == 1, r.explain()
    rec = r.records(out)[0]
    assert rec["signature"] == "fail:RuntimeError@w.py:main", rec["signature"]
    dump = (Path(rec["artifacts"]) / "dump.txt").read_text()
    assert "asyncio loop: 1 pending task when asyncio.run() ended" in dump, dump
    assert re.search(r'task "waiter"\n\s+waits for Event\.wait\(\) \(locks\.py:\d+\)\n.*File ".*w\.py", line 5, in waiter',
                     dump), dump


@pytest.mark.statistical
def test_minimize_shrinks_an_asyncio_failure_to_loop_decisions(rh):
    _, recs, counts, _ = hunt(rh, "async-counter-lost-update", 20, "--profile", "default")
    failing = next((x for x in recs if x["outcome"] == "fail"), None)
    assert failing is not None, counts
    out = rh.dir / "m"
    r = rh.run("minimize", SC / "async-counter-lost-update" / "scenario.toml", "--seed", failing["seed"],
               "--python", DEBIAN_PYTHON, "-j", 2, "--final-runs", 10, "--out", out)
    assert r.returncode == 1, r.explain()
    # Measured: 115 perturbations (switch interval, 106 shim, 8 asyncio) down to 2 asyncio
    # decisions that reproduce 20/20; other seeds end with 1-4. Seeded loop decisions decide
    # the outcome, so the oracle is exact: under load (tests/stress.sh, 6 rounds) the hunt
    # failed 4/20 and minimize ended at 1 decision reproducing 10/10 every time.
    m = re.search(r"minimal set: (\d+) perturbation\(s\) \((\d+) asyncio\)\n", r.stdout)
    assert m and m.group(1) == m.group(2) and 1 <= int(m.group(1)) <= 6, r.explain()
    assert re.search(r'  1\. asyncio: (tasks "Task-\d+", .* resumed in this order|task "Task-\d+" resumed \d '
                     r'iteration\(s\) late) in iteration \d+ of loop 0, process \d+\n', r.stdout), r.stdout
    k = int(re.search(r"reproduces (\d+)/10", r.stdout).group(1))
    assert k >= 5, r.stdout
    pins = (out / "minimal.pins").read_text()
    assert re.search(r"^loop [0-9a-f]{16} 0 \d+ (shuffle Task-\d+(,Task-\d+)+|defer Task-\d+ \d)  # asyncio: ",
                     pins, re.M), pins
    # The same pins replayed alone (what the printed command does) fail again.
    again = rh.dir / "again"
    r = rh.run("replay", SC / "async-counter-lost-update" / "scenario.toml", "--seed", failing["seed"],
               "--python", DEBIAN_PYTHON, "--pins", out / "minimal.pins", "--repeat", 6, "-j", 2,
               "--quiet", "--out", again)
    recs = r.records(again)
    assert sum(x["outcome"] == "fail" for x in recs) >= 3, [x["outcome"] for x in recs]
    assert all(x["jitter"]["asyncio"]["pinned"] == int(m.group(1)) for x in recs), recs[0]["jitter"]


# Each workload checks one promise of "timing only" under the hardest settings; they came
# from a review that broke each of them (an earlier version lost callbacks queued from other
# threads, ran a task ahead of a callback queued before it, crashed in debug mode, never
# finished with defer = 1, and hid unretrieved exceptions).
PROMISES = {
    "threadsafe": '''
import asyncio, sys, threading
sys.setswitchinterval(1e-6)
got = [0]
def cb():
    got[0] += 1
async def spinner():
    for _ in range(5000):
        await asyncio.sleep(0)
async def main():
    loop = asyncio.get_running_loop()
    def producer():
        for _ in range(5000):
            loop.call_soon_threadsafe(cb)
    ts = [threading.Thread(target=producer) for _ in range(2)]
    for t in ts: t.start()
    await asyncio.gather(*(spinner() for _ in range(4)))
    for t in ts: t.join()
    for _ in range(50):
        await asyncio.sleep(0)
asyncio.run(main())
assert got[0] == 10000, got
''',
    "callback-before-task": '''
import asyncio
bad = 0
async def other():
    for _ in range(300):
        await asyncio.sleep(0)
async def b():
    global bad
    loop = asyncio.get_running_loop()
    for _ in range(300):
        flag = []
        loop.call_soon(flag.append, 1)
        await asyncio.sleep(0)
        bad += not flag
async def main():
    await asyncio.gather(other(), b(), other())
asyncio.run(main())
assert bad == 0, bad
''',
    "debug-mode": '''
import asyncio, logging
logging.basicConfig(level=logging.CRITICAL)
async def w(i):
    for _ in range(20):
        await asyncio.sleep(0)
    return i
async def main():
    asyncio.get_running_loop().slow_callback_duration = 0.0
    assert sum(await asyncio.gather(*(w(i) for i in range(5)))) == 10
asyncio.run(main(), debug=True)
''',
    "probe-then-import": '''
import importlib.util
assert importlib.util.find_spec("asyncio") is not None
import asyncio
async def w():
    for _ in range(50):
        await asyncio.sleep(0)
async def main():
    await asyncio.gather(w(), w(), w())
asyncio.run(main())
assert hasattr(asyncio.base_events.BaseEventLoop._run_once, "__wrapped__")
''',
}


@pytest.mark.parametrize("name", sorted(PROMISES))
def test_the_layer_keeps_its_promises(rh, name):
    s = rh.scenario(scenario_toml(runs=4, timeout="20s",
                                  jitter='profile = "none"\n[jitter.asyncio]\nshuffle = 1.0\ndefer = 1.0'),
                    {"w.py": PROMISES[name]})
    out = rh.dir / "o"
    r = rh.run(s, "-j", 2, "--quiet", "--out", out)
    assert r.returncode == 0, r.explain()
    recs = r.records(out)
    assert [x["outcome"] for x in recs] == ["pass"] * 4
    assert all(x["counters"]["python"]["loop_deferrals"] > 0 for x in recs), recs[0]["counters"]


UNRETRIEVED_AT_END = '''
import asyncio
keep = []
async def boom():
    raise ValueError("lost")
async def main():
    keep.append(asyncio.create_task(boom(), name="boom"))
    asyncio.create_task(asyncio.sleep(10))      # still pending when asyncio.run ends
    await asyncio.sleep(0.01)
asyncio.run(main())
assert keep[0]._log_traceback
del keep[:]
'''


def test_a_snapshot_at_the_end_of_asyncio_run_hides_no_unretrieved_exception(rh):
    s = rh.scenario(scenario_toml(runs=1, jitter='profile = "none"', check='asyncio_warnings = "fail"'),
                    {"w.py": UNRETRIEVED_AT_END})
    out = rh.dir / "o"
    r = rh.run(s, "--quiet", "--out", out)
    rec = r.records(out)[0]
    assert rec["signature"] == "fail:asyncio:unretrieved-exception:ValueError@w.py:boom", r.explain()
    assert "Task exception was never retrieved" in (Path(rec["artifacts"]) / "stderr.txt").read_text()


DUPLICATE_NAMES = '''
import asyncio
log = []
async def w(tag):
    for i in range(3):
        log.append(tag)
        await asyncio.sleep(0)
async def main():
    await asyncio.gather(asyncio.create_task(w("a"), name="worker"),
                         asyncio.create_task(w("b"), name="worker"),
                         asyncio.create_task(w("c"), name="other"))
asyncio.run(main())
print("".join(log))
raise SystemExit(3)     # keep the run's directory
'''


def test_pins_name_tasks_that_share_a_name_in_queue_order(rh):
    s = rh.scenario(scenario_toml(runs=1, jitter='profile = "none"'), {"w.py": DUPLICATE_NAMES})
    pins = rh.dir / "p.pins"
    pins.write_text("loop 0000000000000abc 0 2 shuffle other,worker,worker\n"
                    "loop 0000000000000abc 0 3 defer worker 2\n")
    out = rh.dir / "o"
    r = rh.run("replay", s, "--seed", "0000000000000abc", "--pins", pins, "--quiet", "--out", out)
    rec = r.records(out)[0]
    assert rec["signature"] == "fail:exit-code:3", r.explain()
    run_dir = Path(rec["artifacts"])
    assert (run_dir / "stdout.txt").read_text().strip() == "cabcbcbaa"
    assert loop_log(run_dir).splitlines()[1:] == ["0\t2\tshuffle\tother,worker,worker", "0\t3\tdefer\tworker\t2"]
