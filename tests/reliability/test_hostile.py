"""Hostile workloads: racehunt runs code that is broken on purpose. For each case:
the expected outcome, no process of the run left alive, racehunt's own memory bounded, and a
calm scenario run by the same racehunt process (`racehunt run DIR`) unaffected.
"""
import os
import subprocess
import threading
import time

import pytest

from racehunt_testlib import read_records, write_scenario

# racehunt's peak RSS, whatever the workload does (its own memory, not the workload's). An
# ASan build carries its shadow memory and quarantine: scripts/test.sh raises the bound.
RSS_LIMIT_MIB = float(os.environ.get("RACEHUNT_RSS_LIMIT_MIB", "100"))

CASES = {
    # name: (workload, timeout, [run] extra, expected outcomes, extra check)
    "fork bomb": (
        "import os, time\n"
        "while True:\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(60)\n"
        "        os._exit(0)\n",
        "5s", "max_processes = 40", {"pass"},
        lambda rec: rec["counters"].get("process_limit_hits", 0) > 0),
    "1 GB to stdout": (
        "import sys\nchunk = b'x' * (1 << 20)\nfor _ in range(1024):\n    sys.stdout.buffer.write(chunk)\n",
        "60s", "", {"pass"},
        lambda rec: rec["counters"].get("output_omitted_bytes", 0) >= (1 << 30) - (1 << 20)),
    "setsid double-fork daemon": (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        os.environ.clear()\n"
        "        time.sleep(60)\n"
        "    os._exit(0)\n"
        "time.sleep(0.2)\n",
        "5s", "", {"pass"},
        lambda rec: rec["counters"].get("leftover_processes", 0) >= 1),
    "ignores SIGTERM": (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    time.sleep(1)\n",
        "1s", "", {"hang"}, None),
    "closes stdout and stderr": (
        "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(0.2)\nos._exit(0)\n",
        "5s", "", {"pass"}, None),
    "reads stdin forever": (
        "import sys\ndata = sys.stdin.read()\nassert data == '', data\n",
        "5s", "", {"pass"}, None),
    "segfault": (
        "import ctypes\nctypes.string_at(0)\n",
        "5s", "", {"crash"}, lambda rec: rec["signal"] == 11),
    "GIL held in C": (
        "import re\nre.match(r'(a+)+$', 'a' * 64 + 'b')\n",
        "2s", "", {"hang"}, None),
    "allocates until memory_limit": (
        "x = []\nwhile True:\n    x.append(bytearray(16 << 20))\n",
        "20s", 'memory_limit = "400MB"', {"fail"},
        lambda rec: rec["signature"].startswith("fail:MemoryError")),
    "1000 threads": (
        "import threading, time\n"
        "ts = [threading.Thread(target=time.sleep, args=(0.3,)) for _ in range(1000)]\n"
        "for t in ts: t.start()\n"
        "for t in ts: t.join()\n",
        "60s", "", {"pass"}, None),
    "deletes its run files and changes directory": (
        "import os, shutil\n"
        "shutil.rmtree(os.environ['RACEHUNT_RUN_DIR'], ignore_errors=True)\n"
        "os.chdir('/')\n",
        "5s", "", {"pass", "error", "fail"}, None),
    "kills its own process group": (
        "import os, signal, subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "os.killpg(0, signal.SIGKILL)\n",
        "5s", "", {"crash"}, lambda rec: rec["signal"] == 9),
}

CALM = "import threading\nx = []\nt = threading.Thread(target=x.append, args=(1,))\nt.start()\nt.join()\n"


def peak_rss_mib(pid, stop, out):
    """Polls racehunt's VmHWM until `stop` is set."""
    best = 0
    while not stop.is_set():
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        best = max(best, int(line.split()[1]))
        except OSError:
            break
        time.sleep(0.02)
    out.append(best / 1024.0)


def hostile(rh, case, start, rows):
    body, timeout, rextra, expected, check = CASES[case]
    d = rh.dir / "scenarios"
    for name, text, t, r in (("hostile", body, timeout, rextra), ("calm", CALM, "10s", "")):
        write_scenario(d / (name + ".toml"), files={name + ".py": text}, name=name, script=name + ".py",
                       timeout=t, runs=3, jobs=2, seed=1, run_extra='start = "%s"\n%s\n' % (start, r))
    out = rh.dir / "out"
    argv = [rh.exe, "run", str(d), "--out", str(out), "--quiet"]
    env = dict(os.environ, RH_TEST_MARK=rh.mark, NO_COLOR="1")
    proc = subprocess.Popen(argv, cwd=rh.dir, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    stop, rss = threading.Event(), []
    sampler = threading.Thread(target=peak_rss_mib, args=(proc.pid, stop, rss))
    sampler.start()
    try:
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        stop.set()
        sampler.join()
        if proc.poll() is None:
            proc.kill()
    explain = "\n%s\nexit %s\n%s\n%s" % (" ".join(argv), proc.returncode, stdout[-3000:], stderr[-3000:])
    assert proc.returncode in (0, 1), explain
    recs = {}
    for name in ("hostile", "calm"):
        recs[name] = read_records(out / name)
        assert sorted(x["run"] for x in recs[name]) == [0, 1, 2], explain
    assert all(x["outcome"] == "pass" for x in recs["calm"]), recs["calm"]
    outcomes = {x["outcome"] for x in recs["hostile"]}
    assert outcomes <= expected, (outcomes, recs["hostile"][0])
    if check:
        assert all(check(x) for x in recs["hostile"]), recs["hostile"][0]
    left = rh.survivors()
    rows.append((case, start, "/".join(sorted(outcomes)), len(left), rss[0] if rss else 0.0))
    assert left == [], left
    assert rss and rss[0] < RSS_LIMIT_MIB, rss
    return recs


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_workload_fresh(rh, hostile_rows, case):
    hostile(rh, case, "fresh", hostile_rows)


@pytest.mark.parametrize("case", ["fork bomb", "setsid double-fork daemon", "kills its own process group",
                                  "allocates until memory_limit", "GIL held in C", "closes stdout and stderr"])
def test_hostile_workload_forked(rh, hostile_rows, case):
    hostile(rh, case, "fork-server", hostile_rows)
