"""The benchmark's baselines judge runs with bench/adapters/runcheck.py; if it missed a
failure, every "plain repetition found nothing" figure in bench/RESULTS.md would be
wrong. Each check it makes is shown to fail here, in both of its modes."""
import json
import subprocess

import pytest

from racehunt_testlib import DEBIAN_PYTHON, REPO

ADAPTER = REPO / "bench" / "adapters" / "runcheck.py"

PASSING = "import threading\nn = 0\nt = threading.Thread(target=lambda: None)\nt.start()\nt.join()\nn = 3\n"
CASES = {
    "pass": (PASSING, ["n == 3"], None),
    "invariant": (PASSING, ["n == 4"], "invariant n == 4 is false"),
    "thread-exception": ("import threading\n"
                         "t = threading.Thread(target=lambda: 1 / 0, name='divider')\nt.start()\nt.join()\n",
                         [], "ZeroDivisionError in thread 'divider'"),
    "exit-status": ("import sys\nsys.exit(3)\n", [], "exit status 3"),
    "main-exception": ("raise KeyError('k')\n", [], "KeyError"),
    # Module state: a second in-process repetition must see a freshly imported helper.
    "helper-module": ("import helper\nhelper.count += 1\nseen = helper.count\n", ["seen == 1"], None),
    "helper-module-fails": ("import helper\nhelper.count += 1\nseen = helper.count\n", ["seen == 2"],
                            "invariant seen == 2 is false"),
}


def spec_for(tmp_path, body, invariants, timeout=10.0):
    (tmp_path / "w.py").write_text(body)
    (tmp_path / "helper.py").write_text("count = 0\n")
    spec = {"script": str(tmp_path / "w.py"), "cwd": str(tmp_path), "exit_code": 0,
            "thread_exceptions": "fail", "invariants": invariants, "timeout_s": timeout}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    return spec


@pytest.mark.parametrize("case", sorted(CASES))
def test_fresh_interpreter_mode_reports_each_check(tmp_path, case):
    body, invariants, expected = CASES[case]
    spec_for(tmp_path, body, invariants)
    p = subprocess.run([DEBIAN_PYTHON, str(ADAPTER), str(tmp_path / "spec.json")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    if expected is None:
        assert p.returncode == 0, p.stderr
    else:
        assert p.returncode == 1 and expected in p.stderr, (p.returncode, p.stderr)


IN_THREAD = """
import json, sys
sys.path.insert(0, %r)
from runcheck import run_in_thread
spec = json.loads(%r)
results = [run_in_thread(spec) for _ in range(2)]
print(json.dumps(results))
"""


@pytest.mark.parametrize("case", sorted(CASES))
def test_in_process_mode_reports_each_check_on_every_repetition(tmp_path, case):
    body, invariants, expected = CASES[case]
    spec = spec_for(tmp_path, body, invariants)
    p = subprocess.run([DEBIAN_PYTHON, "-c", IN_THREAD % (str(ADAPTER.parent), json.dumps(spec))],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert p.returncode == 0, p.stderr
    results = json.loads(p.stdout.splitlines()[-1])
    for r in results:  # the second repetition starts from fresh module state too
        if expected is None:
            assert r is None
        else:
            assert r is not None and expected in r, results


def test_in_process_mode_abandons_a_deadlock_as_a_hang_and_goes_on(tmp_path):
    body = ("import threading\nlock = threading.Lock()\nlock.acquire()\n"
            "t = threading.Thread(target=lock.acquire, name='stuck')\nt.start()\nt.join()\n")
    spec = spec_for(tmp_path, body, [], timeout=0.5)
    p = subprocess.run([DEBIAN_PYTHON, "-c", IN_THREAD % (str(ADAPTER.parent), json.dumps(spec))],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    # The process exits although two deadlocked threads remain: they are daemon threads.
    assert p.returncode == 0, p.stderr
    results = json.loads(p.stdout.splitlines()[-1])
    assert len(results) == 2 and all(r.startswith("hang") for r in results), results
