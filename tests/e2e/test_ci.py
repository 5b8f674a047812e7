"""CI and scale-out: shards that merge into exactly the unsharded campaign, shards
taken from the environment of common engines, JUnit XML that stays valid for hostile names,
--resume after kill -9, and --fail-threshold.

The workload here fails or passes by its run seed alone (one run in four), so that a run's
outcome is the same in any shard and any process: the comparisons are run by run.
"""
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from racehunt_testlib import (DEBIAN_PYTHON, REPO, pyenv_python, read_jsonl, read_records, read_summary,
                              scenario_toml, write_scenario)

BY_SEED = """
import json, os, sys, time
cfg = json.load(open(os.path.join(os.environ["RACEHUNT_RUN_DIR"], "config.json")))
time.sleep(%s)
if int(cfg["run_seed"], 16) %% 4 == 0:
    raise RuntimeError("seed ends in a multiple of four")
"""


def by_seed(rh, runs=40, sleep=0.0, name="scenario.toml", extra=""):
    return rh.scenario(scenario_toml(runs=runs, seed=11, jitter='profile = "none"', check="exit_code = 0",
                                     run_extra=extra),
                       {"w.py": BY_SEED % sleep}, name=name)


def per_run(records):
    return {r["run"]: (r["seed"], r["outcome"], r["signature"]) for r in records}


STATS = ("runs", "runs_planned", "outcomes", "failures", "failure_rate", "interval_95")
SIG_STATS = ("signature", "outcome", "count", "rate", "interval_95", "first_run", "first_seed")


def stats(summary):
    s = summary["scenarios"][0]
    return ({k: s[k] for k in STATS}, [{k: g[k] for k in SIG_STATS} for g in s["signatures"]])


def xmllint(path):
    p = subprocess.run(["xmllint", "--noout", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    assert p.returncode == 0, "xmllint rejects %s: %s" % (path, p.stderr)


def test_four_shards_merged_equal_one_campaign_run_by_run(rh):
    s = by_seed(rh)
    full = rh.run(s, "-j", 2, "--quiet", "--out", rh.dir / "full")
    assert full.returncode == 1, full.explain()
    shards = []
    for k in range(1, 5):
        out = rh.dir / ("shard%d" % k)
        r = rh.run(s, "-j", 2, "--quiet", "--shard", "%d/4" % k, "--out", out)
        assert r.returncode in (0, 1), r.explain()
        assert len(r.records(out)) == 10
        shards.append(out / "results.jsonl")
    # Merge in a shuffled order: the first failure is the lowest run index, not the first line.
    merged = rh.dir / "merged"
    r = rh.run("merge", shards[2], shards[0], shards[3], shards[1], "--out", merged,
               "--junit", rh.dir / "merged.xml", "--json", rh.dir / "merged.json")
    assert r.returncode == 1, r.explain()
    assert per_run(r.records(merged)) == per_run(full.records(rh.dir / "full"))
    assert len(r.records(merged)) == 40
    assert stats(r.summary(merged)) == stats(full.summary(rh.dir / "full"))
    failures = r.summary(merged)["scenarios"][0]["failures"]
    assert 0 < failures < 40, failures
    m = r.summary(merged)["scenarios"][0]
    assert m["missing_runs"] == 0 and m["duplicate_runs"] == 0
    assert json.loads((rh.dir / "merged.json").read_text()) == r.summary(merged)
    xmllint(rh.dir / "merged.xml")
    xml = (rh.dir / "merged.xml").read_text()
    assert '<testsuite name="t" tests="1" failures="1"' in xml, xml[:800]
    assert re.search(r'<failure message="%d of 40 runs failed' % failures, xml), xml[:1500]
    assert ("replay: %s replay " % rh.printed) in xml and "RuntimeError" in xml


def test_shards_come_from_the_environment_of_ci_engines(rh):
    s = by_seed(rh, runs=12)
    cases = [({}, ["--shard", "3/4"]),
             ({"RACEHUNT_SHARD": "3/4"}, []),
             ({"SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "7"}, []),
             ({"JOB_COMPLETION_INDEX": "2", "RACEHUNT_SHARD_COUNT": "4"}, [])]
    for env, args in cases:
        out = rh.dir / ("o%d" % len(str(env)))
        r = rh.run(s, "-j", 2, "--out", out, *args, env=env)
        assert r.returncode in (0, 1), r.explain()
        assert "shard 3/4 of 12" in r.stderr, r.explain()
        got = sorted(x["run"] for x in r.records(out))
        assert got == [2, 6, 10], (env, got)
    # Misconfigured engines are usage errors naming the variable.
    for env, name in [({"RACEHUNT_SHARD": "5/4"}, "RACEHUNT_SHARD"),
                      ({"JOB_COMPLETION_INDEX": "1"}, "RACEHUNT_SHARD_COUNT"),
                      ({"JOB_COMPLETION_INDEX": "4", "RACEHUNT_SHARD_COUNT": "4"}, "JOB_COMPLETION_INDEX"),
                      ({"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "4"}, "SLURM_ARRAY_TASK_ID")]:
        r = rh.run(s, "--out", rh.dir / "bad", env=env)
        assert r.returncode == 2 and name in r.stderr, r.explain()


def test_merge_reports_missing_and_duplicated_runs_and_a_cut_line(rh):
    s = by_seed(rh, runs=12)
    outs = []
    for k in (1, 2, 3):
        out = rh.dir / ("s%d" % k)
        rh.run(s, "-j", 2, "--quiet", "--shard", "%d/3" % k, "--out", out)
        outs.append(out / "results.jsonl")
    # Shard 3 is lost; shard 1 is given twice; shard 2's last line was cut by a kill.
    text = outs[1].read_text()
    cut = read_jsonl(outs[1])[-1]["run"]
    outs[1].write_text(text[:len(text) - 25])
    merged = rh.dir / "m"
    r = rh.run("merge", outs[0], outs[1], outs[0], "--out", merged)
    assert r.returncode in (0, 1), r.explain()
    s0 = r.summary(merged)["scenarios"][0]
    assert s0["runs"] == 7 and s0["duplicate_runs"] == 4, s0
    assert s0["missing_runs"] == 5 and s0["missing_run_examples"] == sorted([2, 5, 8, 11, cut]), s0
    assert "5 of 12 runs missing" in r.stderr and "cut short" in r.stderr, r.explain()
    # A broken line in the middle of a file is bad input, named by file:line.
    bad = rh.dir / "bad.jsonl"
    lines = outs[0].read_text().splitlines()
    bad.write_text("\n".join(lines[:1] + ["{not json"] + lines[1:]) + "\n")
    r = rh.run("merge", bad, "--out", rh.dir / "m2")
    assert r.returncode == 2 and "bad.jsonl:2" in r.stderr, r.explain()


def test_resume_after_kill_9_finishes_the_campaign_without_redoing_or_losing_runs(rh):
    s = by_seed(rh, runs=30, sleep=0.3)
    out = rh.dir / "o"
    argv = [rh.exe, str(s), "-j", "2", "--quiet", "--out", str(out)]
    env = dict(os.environ, RH_TEST_MARK=rh.mark)
    p = subprocess.Popen(argv, cwd=str(rh.dir), env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = out / "results.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline:
        if results.exists() and results.read_text().count("\n") >= 8:
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    done = read_records(out)
    assert 8 <= len(done) < 30, len(done)
    # As if the kill had landed in the middle of a write.
    with open(str(results), "a") as f:
        f.write('{"scenario":"t","run":29,"se')
    time.sleep(0.5)   # let the orphaned runs of the killed racehunt end
    r = rh.run(s, "--resume", results, "-j", 2, "--quiet")
    assert r.returncode == 1, r.explain()
    assert "cut short" in r.stderr, r.explain()
    records = r.records(out)
    assert sorted(x["run"] for x in records) == list(range(30)), sorted(x["run"] for x in records)
    # The runs made before the kill are kept as they were.
    assert records[:len(done)] == done
    full = rh.run(s, "-j", 2, "--quiet", "--out", rh.dir / "full")
    assert per_run(records) == per_run(full.records(rh.dir / "full"))
    assert stats(r.summary(out)) == stats(full.summary(rh.dir / "full"))
    # Resuming a finished campaign runs nothing and reports the same.
    r2 = rh.run(s, "--resume", results, "--quiet")
    assert r2.returncode == 1 and len(r2.records(out)) == 30, r2.explain()


def test_fail_threshold_accepts_a_known_small_flake_rate(rh):
    s = by_seed(rh, runs=40)
    out = rh.dir / "o"
    # About a quarter of the runs fail: the lower end of the interval is far above 1%...
    r = rh.run(s, "-j", 2, "--quiet", "--out", out, "--fail-threshold", "1%")
    assert r.returncode == 1, r.explain()
    # ... and below 50%.
    r = rh.run(s, "-j", 2, "--quiet", "--out", out, "--fail-threshold", "0.5", "--junit", rh.dir / "j.xml")
    assert r.returncode == 0, r.explain()
    assert "ACCEPTED failure rate" in r.stdout and "within --fail-threshold 50.0%" in r.stdout, r.explain()
    summary = r.summary(out)
    assert summary["fail_threshold"] == 0.5 and summary["scenarios"][0]["within_fail_threshold"] is True
    xmllint(rh.dir / "j.xml")
    assert 'failures="0"' in (rh.dir / "j.xml").read_text()
    for bad in ("2", "-0.1", "abc", "%"):
        r = rh.run(s, "--out", out, "--fail-threshold", bad)
        assert r.returncode == 2 and "--fail-threshold" in r.stderr, r.explain()


HOSTILE = """
import threading, sys
def work():
    raise ValueError("bad <&\\"'> \\x01\\x1b[31m \\u00e9\\u4e2d \\U0001f600 end")
t = threading.Thread(target=work, name="w<&\\"'>\\x02")
t.start()
t.join()
print("out <&> \\x00\\x07 tail")
"""


def test_junit_stays_valid_xml_for_hostile_names_and_messages(rh):
    s = rh.scenario(scenario_toml(name='t<&\\"\'>\\u0001x', runs=2, check="exit_code = 0"),
                    {"w.py": HOSTILE})
    out = rh.dir / "o"
    r = rh.run(s, "-j", 2, "--quiet", "--out", out, "--junit", rh.dir / "h.xml")
    assert r.returncode == 1, r.explain()
    xmllint(rh.dir / "h.xml")
    import xml.etree.ElementTree as ET
    root = ET.parse(str(rh.dir / "h.xml")).getroot()
    suite = root.find("testsuite")
    # Markup characters survive as text; a control character becomes U+FFFD.
    assert suite.get("name") == "t<&\"'>\ufffdx", suite.get("name")
    failure = suite.find("testcase/failure")
    assert "ValueError" in failure.text and "\u4e2d" in failure.text and "\U0001f600" in failure.text, failure.text


def summary_file(path, runs, failures, name="bank", python="3.11.2"):
    path.write_text(json.dumps({"scenarios": [{"scenario": name, "python": python, "runs": runs,
                                               "failures": failures}]}))
    return path


def test_compare_says_in_plain_words_whether_the_rate_changed(rh):
    before = summary_file(rh.dir / "before.json", 2000, 84)
    r = rh.run("compare", before, summary_file(rh.dir / "fixed.json", 2000, 0))
    assert r.returncode == 0, r.explain()
    assert "bank (python 3.11.2): failure rate fell from 4.2% [3.4%–5.2%] (84/2000) to 0/2000 (< 0.15%); " \
           "p < 1e-9: the fix holds" in r.stdout, r.explain()
    r = rh.run("compare", before, summary_file(rh.dir / "fewer.json", 2000, 30))
    assert r.returncode == 0 and "fewer failures, but not none" in r.stdout, r.explain()
    r = rh.run("compare", summary_file(rh.dir / "small.json", 100, 1), summary_file(rh.dir / "none.json", 100, 0))
    assert r.returncode == 0 and "no significant change (not enough runs after" in r.stdout, r.explain()
    r = rh.run("compare", summary_file(rh.dir / "good.json", 1000, 0), summary_file(rh.dir / "bad.json", 1000, 25))
    assert r.returncode == 1 and "rose from 0/1000" in r.stdout and ": a regression" in r.stdout, r.explain()
    # Real summaries of two campaigns work as they are.
    s = by_seed(rh, runs=20)
    rh.run(s, "-j", 2, "--quiet", "--out", rh.dir / "a")
    rh.run(s, "-j", 2, "--quiet", "--out", rh.dir / "b")
    r = rh.run("compare", rh.dir / "a" / "summary.json", rh.dir / "b" / "summary.json")
    assert r.returncode == 0 and "no significant change" in r.stdout, r.explain()
    # Bad input names the file.
    (rh.dir / "junk.json").write_text("{not json")
    r = rh.run("compare", rh.dir / "junk.json", before)
    assert r.returncode == 2 and "junk.json" in r.stderr, r.explain()
    r = rh.run("compare", before, summary_file(rh.dir / "other.json", 10, 0, name="other"))
    assert r.returncode == 2 and "no scenario in common" in r.stderr, r.explain()


def test_a_directory_of_scenarios_and_a_python_matrix_run_as_one_campaign(rh):
    other = pyenv_python("3.12") or pyenv_python("3.13")
    assert other, "a pyenv 3.12 or 3.13 build is needed"
    d = rh.dir / "suite"
    write_scenario(d / "passing" / "scenario.toml", files={"w.py": "print('fine')\n"},
                   name="passing", runs=4, jitter='profile = "none"')
    write_scenario(d / "matrix.toml", files={"w.py": BY_SEED % 0}, name="matrix", python=[DEBIAN_PYTHON, other],
                   runs=20, seed=11, jitter='profile = "none"', check="exit_code = 0")
    out = rh.dir / "o"
    r = rh.run(d, "-j", 2, "--quiet", "--out", out, "--junit", rh.dir / "all.xml")
    assert r.returncode == 1, r.explain()
    summary = r.summary(out)
    rows = [(s["scenario"], s["python"], s["runs"]) for s in summary["scenarios"]]
    v_other = rows[1][1]
    assert rows == [("matrix", "3.11.2", 20), ("matrix", v_other, 20), ("passing", "3.11.2", 4)], rows
    assert v_other.startswith(("3.12", "3.13")), rows
    # Statistics per interpreter: the same seeds fail on both (the workload decides by seed).
    m1, m2 = summary["scenarios"][0], summary["scenarios"][1]
    assert m1["failures"] == m2["failures"] > 0 and summary["scenarios"][2]["failures"] == 0
    # Each interpreter's runs are in their own folder, and the replay names the interpreter.
    for py, version in ((DEBIAN_PYTHON, "3.11.2"), (other, v_other)):
        folder = out / "matrix" / ("python-" + version)
        recs = read_records(folder)
        assert len(recs) == 20 and all(x["python"].startswith(("3.11", "3.12", "3.13")) for x in recs)
        replays = [x["replay"] for x in recs if x["outcome"] != "pass"]
        assert replays and all("--python " + py in x for x in replays), replays[:2]
    assert re.search(r"\nmatrix\s+3\.11\.2\s+20\s+\d+\s+.*FAILED\n", r.stdout), r.stdout
    assert re.search(r"\npassing\s+3\.11\.2\s+4\s+0\s+.*ok\n", r.stdout), r.stdout
    xmllint(rh.dir / "all.xml")
    xml = (rh.dir / "all.xml").read_text()
    assert xml.count("<testsuite ") == 3 and 'name="matrix [python %s]"' % v_other in xml, xml[:2000]
    # Two scenarios with one name would write into one folder: refused before anything runs.
    (d / "dup.toml").write_text((d / "matrix.toml").read_text())
    r = rh.run(d, "--out", rh.dir / "o2")
    assert r.returncode == 2 and "also the name of" in r.stderr, r.explain()
    r = rh.run(rh.dir / "empty-dir-does-not-exist")
    assert r.returncode == 2, r.explain()


RACY_TEST = """
import threading

class Account:
    def __init__(self):
        self.balance = 0

def test_deposits_add_up():
    account = Account()
    def deposit():
        for _ in range(2000):
            b = account.balance
            note = "deposit " + str(b)      # a call: where a GIL build can switch
            account.balance = b + 1
    threads = [threading.Thread(target=deposit, name="depositor-%d" % i) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert account.balance == 4000, "lost %d deposits" % (4000 - account.balance)

def test_a_thread_raises():
    def work():
        raise KeyError("from a worker")
    t = threading.Thread(target=work, name="worker-1")
    t.start()
    t.join()

def test_fine():
    pass
"""


def pytest_scenario(rh, node, runs, name):
    return rh.scenario(scenario_toml(pytest=node, runs=runs, seed=3),
                       {"tests/test_bank.py": RACY_TEST}, name=name)


def test_a_pytest_node_is_a_workload_with_its_assertion_message(rh):
    s = pytest_scenario(rh, "tests/test_bank.py::test_deposits_add_up", 20, "racy.toml")
    out = rh.dir / "o"
    r = rh.run(s, "-j", 2, "--out", out)
    assert r.returncode == 1, r.explain()
    fails = [x for x in r.records(out) if x["outcome"] == "fail"]
    assert fails, r.explain()
    f = fails[0]
    assert f["signature"] == "fail:AssertionError@test_bank.py:test_deposits_add_up", f["signature"]
    assert any(re.search(r"AssertionError .*lost \d+ deposits", x) for x in f["reasons"]), f["reasons"]
    dump = (Path(f["artifacts"]) / "dump.txt").read_text()
    assert '"MainThread"' in dump and "test_deposits_add_up" in dump, dump[:2000]
    # The replay command re-runs the node.
    replay = f["replay"].split()[1:]
    r2 = rh.run(*replay, "--repeat", 3, "--out", rh.dir / "again", "--quiet")
    assert r2.returncode in (0, 1) and len(r2.records(rh.dir / "again")) == 3, r2.explain()
    # An exception in another thread fails the node as it fails a script (pytest would only warn).
    s = pytest_scenario(rh, "tests/test_bank.py::test_a_thread_raises", 2, "thread.toml")
    r = rh.run(s, "-j", 2, "--quiet", "--out", rh.dir / "t")
    assert r.returncode == 1, r.explain()
    rec = r.records(rh.dir / "t")[0]
    assert rec["signature"].startswith("fail:KeyError@test_bank.py:work"), rec["signature"]
    assert any('"worker-1"' in x for x in rec["reasons"]), rec["reasons"]
    # A passing node passes.
    s = pytest_scenario(rh, "tests/test_bank.py::test_fine", 3, "fine.toml")
    r = rh.run(s, "-j", 2, "--quiet", "--out", rh.dir / "f")
    assert r.returncode == 0, r.explain()


def test_a_pytest_workload_needs_pytest_in_its_interpreter(rh):
    py = pyenv_python("3.12")
    assert py, "a pyenv 3.12 build is needed"
    probe = subprocess.run([py, "-c", "import pytest"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if probe.returncode == 0:
        pytest.skip("this pyenv build has pytest")
    s = pytest_scenario(rh, "tests/test_bank.py::test_fine", 1, "s.toml")
    r = rh.run(s, "--python", py, "--out", rh.dir / "o")
    assert r.returncode == 2 and "pytest is not installed for" in r.stderr and "--python" in r.stderr, r.explain()
    # A pytest the scenario's own environment brings in (PYTHONPATH) is found.
    (rh.dir / "vendor").mkdir()
    (rh.dir / "vendor" / "pytest.py").write_text("__version__ = '0'\nif __name__ == '__main__':\n    print('stand-in pytest')\n")
    s = rh.scenario(scenario_toml(pytest="tests/test_bank.py::test_fine", runs=1, seed=3,
                                  extra='env = { PYTHONPATH = "%s" }' % (rh.dir / "vendor")),
                    {"tests/test_bank.py": RACY_TEST}, name="v.toml")
    r = rh.run(s, "--python", py, "--out", rh.dir / "v")
    assert r.returncode == 0, r.explain()


def test_the_ci_examples_run_locally_as_a_simulation(rh):
    """The commands of examples/ci/github-actions-nightly.yml and k8s-indexed-job.yaml,
    taken from the files themselves, run as the engines would run them: N shard processes
    at once with each engine's environment, then the merge step."""
    ci = REPO / "examples" / "ci"
    suite = rh.dir / "suite"
    write_scenario(suite / "byseed" / "scenario.toml", files={"w.py": BY_SEED % 0.05},
                   name="byseed", runs=5, jitter='profile = "none"', check="exit_code = 0")
    write_scenario(suite / "calm" / "scenario.toml", files={"w.py": "print('ok')\n"},
                   name="calm", runs=5, jitter='profile = "none"')
    env = {"RACEHUNT": rh.exe}

    def bash(cmd, extra, cwd):
        full = dict(os.environ, RH_TEST_MARK=rh.mark, NO_COLOR="1", **env, **extra)
        return subprocess.Popen(["bash", "-c", cmd], cwd=str(cwd), env=full, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, universal_newlines=True)

    # GitHub Actions: the shard step's `run:` line, once per matrix entry, all at once.
    wf = (ci / "github-actions-nightly.yml").read_text()
    shard_line = re.search(r"run: (examples/ci/shard\.sh .*)", wf).group(1)
    merge_line = re.search(r"run: (examples/ci/merge\.sh .*)", wf).group(1)
    matrix = re.search(r"shard: \[([\d, ]+)\]", wf).group(1).split(",")
    assert len(matrix) == 4 and "RACEHUNT_SHARD: ${{ matrix.shard }}/4" in wf
    workdir = rh.dir / "gha"
    workdir.mkdir()
    (workdir / "examples").symlink_to(REPO / "examples")
    procs = []
    for k in (m.strip() for m in matrix):
        cmd = shard_line.replace("${{ matrix.shard }}", k).replace("${{ github.run_number }}", "77")
        procs.append(bash(cmd, {"SCENARIOS": str(suite), "RUNS": "40", "RACEHUNT_SHARD": "%s/4" % k}, workdir))
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    # The artifacts arrive as one folder per shard; the merge step runs on them.
    (workdir / "shards").mkdir()
    for k in range(1, 5):
        (workdir / "out" / ("shard-%d" % k)).rename(workdir / "shards" / ("racehunt-shard-%d" % k))
    p = bash(merge_line, {}, workdir)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 1, (out, err)   # byseed fails about one run in four, above 0.1%
    merged = read_summary(workdir / "merged")
    xmllint(workdir / "merged" / "junit.xml")

    # The same campaign unsharded.
    full = rh.run(suite, "--runs", 40, "--seed", 77, "-j", 2, "--quiet", "--out", rh.dir / "full")
    assert full.returncode == 1, full.explain()
    want = read_summary(rh.dir / "full")
    strip = lambda s: [({k: x[k] for k in STATS}, [{k: g[k] for k in SIG_STATS} for g in x["signatures"]])
                       for x in sorted(s["scenarios"], key=lambda x: x["scenario"])]
    assert strip(merged) == strip(want)
    assert all(x["missing_runs"] == 0 and x["duplicate_runs"] == 0 for x in merged["scenarios"])
    merged_runs = read_records(workdir / "merged")
    full_runs = [x for name in ("byseed", "calm") for x in read_records(rh.dir / "full" / name)]
    key = lambda r: (r["scenario"], r["run"], r["seed"], r["outcome"], r["signature"])
    assert sorted(map(key, merged_runs)) == sorted(map(key, full_runs))

    # Kubernetes Indexed Job: the container's command, with the completion index.
    job = (ci / "k8s-indexed-job.yaml").read_text()
    args = re.search(r"- (examples/ci/shard\.sh .*)", job).group(1)
    count = int(re.search(r"completions: (\d+)", job).group(1))
    assert 'name: RACEHUNT_SHARD_COUNT\n              value: "%d"' % count in job
    k8s = rh.dir / "k8s"
    k8s.mkdir()
    (k8s / "examples").symlink_to(REPO / "examples")
    (k8s / "scenarios").symlink_to(suite)
    results = rh.dir / "results"
    cmd = args.replace("/results", str(results)).replace("--runs 4000", "--runs 40")
    procs = [bash(cmd, {"JOB_COMPLETION_INDEX": str(i), "RACEHUNT_SHARD_COUNT": str(count), "CAMPAIGN_SEED": "77"}, k8s)
             for i in range(count)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    p = bash("examples/ci/merge.sh %s merged" % results, {}, k8s)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 1, (out, err)
    assert strip(read_summary(k8s / "merged")) == strip(want)


def test_bad_results_and_options_are_refused_before_anything_runs(rh):
    s = by_seed(rh, runs=6)
    out = rh.dir / "o"
    r = rh.run(s, "-j", 2, "--quiet", "--out", out)
    lines = (out / "results.jsonl").read_text().splitlines()
    # A run index out of range, in a merge input: named by file:line, nothing allocated for it.
    for i, bad in enumerate(({"run": 2 ** 64 - 1}, {"run": 7}, {"planned": 2 ** 40})):
        rec = json.loads(lines[0])
        rec.update(bad)
        f = rh.dir / ("bad%d.jsonl" % i)
        f.write_text(lines[1] + "\n" + json.dumps(rec) + "\n")
        r = rh.run("merge", f, "--out", rh.dir / ("m%d" % i))
        assert r.returncode == 2 and ("bad%d.jsonl:2" % i) in r.stderr and "out of range" in r.stderr, r.explain()
    # No run at all: nothing to merge is not a green build.
    (rh.dir / "empty.jsonl").write_text("")
    r = rh.run("merge", rh.dir / "empty.jsonl", "--out", rh.dir / "m9")
    assert r.returncode == 2 and "no run" in r.stderr, r.explain()
    # Resuming with another size of campaign.
    r = rh.run(s, "--resume", out / "results.jsonl", "--runs", 9)
    assert r.returncode == 2 and "--runs" in r.stderr, r.explain()
    # Several scenarios: the combined report's place is checked first.
    d = rh.dir / "two"
    d.mkdir()
    for name in ("a", "b"):
        (d / (name + ".toml")).write_text(s.read_text().replace('name = "t"', 'name = "%s"' % name)
                                          .replace('script = "w.py"', 'script = "../w.py"'))
    r = rh.run(d, "--json", rh.dir / "no-such-dir" / "x.json", "--out", rh.dir / "o2")
    assert r.returncode == 2 and "--json" in r.stderr and not (rh.dir / "o2").exists(), r.explain()
    # Slurm arrays with a step: --array=0-6:2 is 4 tasks; task 4 is the third shard.
    r = rh.run(s, "--out", rh.dir / "o3", env={"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4",
                                                "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_STEP": "2"})
    assert r.returncode in (0, 1) and "shard 3/4 of 6" in r.stderr, r.explain()
    # compare: counts that cannot be, and a patch upgrade of the interpreter.
    r = rh.run("compare", summary_file(rh.dir / "x.json", 3, 5), summary_file(rh.dir / "y.json", 3, 0))
    assert r.returncode == 2 and "5 failures in 3 runs" in r.stderr, r.explain()
    r = rh.run("compare", summary_file(rh.dir / "p1.json", 2000, 84, python="3.12.1"),
               summary_file(rh.dir / "p2.json", 2000, 0, python="3.12.3"))
    assert r.returncode == 0 and "the fix holds" in r.stdout, r.explain()
