"""Harness faults: racehunt's own trouble is never reported as the workload's.

kill -9 of racehunt mid-campaign followed by --resume, and SIGINT (partial summary, exit
130), are covered in tests/e2e/test_ci.py and tests/e2e/test_core.py.
"""
import os
import re
import subprocess

import pytest

from racehunt_testlib import scenario_toml


def test_a_full_output_directory_is_racehunts_error_never_the_workloads(rh):
    out = rh.dir / "out"
    out.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(out)],
                                           stderr=subprocess.DEVNULL).returncode != 0:
        pytest.skip("needs to mount a small tmpfs (root)")
    try:
        # Every run would pass its checks; the file system has no room left for any run's
        # directory, nor for the results file.
        st = os.statvfs(str(out))
        (out / "filler").write_bytes(b"\0" * (st.f_bavail * st.f_frsize))
        path = rh.scenario(scenario_toml(runs=20, jobs=2, jitter='profile = "none"',
                                         check='invariants = ["len(text) == 300000"]'),
                           {"w.py": "import sys\ntext = 'y' * 300000\nsys.stdout.write(text)\n"})
        r = rh.run(path, "--out", out)
        # 3: racehunt could not write its results file; it says so.
        assert r.returncode == 3, r.explain()
        assert "disk full" in r.stderr and "No space left on device" in r.stdout + r.stderr, r.explain()
        m = re.search(r"Scenario t: 20 runs \((\d+) pass, (\d+) fail, (\d+) hang, (\d+) crash, (\d+) error\)", r.stdout)
        assert m, r.explain()
        passed, failed, hung, crashed, errors = (int(x) for x in m.groups())
        # No run could be checked: each is racehunt's error, none a failure of the workload,
        # and all 20 are counted although the results file could not be written.
        assert (passed, failed, hung, crashed, errors) == (0, 0, 0, 0, 20), r.explain()
        assert "error:run-dir  20×" in r.stdout and "No space left on device" in r.stdout, r.explain()
        assert "did not load racehunt's bootstrap" not in r.stdout + r.stderr
        assert rh.survivors() == []
    finally:
        subprocess.run(["umount", "-l", str(out)])
