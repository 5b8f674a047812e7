"""Bad input: a one-line error naming the place and the fix, exit status 2, nothing run."""
import os
from pathlib import Path

import pytest

from conftest import DEBIAN_PYTHON

GOOD = """
[workload]
script = "w.py"
python = "%s"
[run]
runs = 2
""" % DEBIAN_PYTHON


def assert_usage_error(rh, r, *fragments):
    assert r.returncode == 2, r.explain()
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, r.explain()
    assert lines[0].startswith("racehunt: error: "), r.explain()
    for f in fragments:
        assert f in lines[0], r.explain()
    # Nothing was started: no results were written anywhere.
    assert not list(Path(rh.dir).rglob("results.jsonl")), r.explain()


def test_missing_scenario_file(rh):
    assert_usage_error(rh, rh.run("nope.toml"), "nope.toml", "not found")


def test_unreadable_scenario_file(rh):
    if os.getuid() == 0:
        # root reads anything; a directory stands in for an unreadable file.
        (rh.dir / "d.toml").mkdir()
        assert_usage_error(rh, rh.run("d.toml"), "d.toml", "directory")
    else:
        p = rh.scenario(GOOD, {"w.py": "pass\n"})
        p.chmod(0)
        assert_usage_error(rh, rh.run(p), "cannot read")


def test_invalid_toml(rh):
    s = rh.scenario("[workload\nscript = 1\n")
    assert_usage_error(rh, rh.run(s), "scenario.toml:1:", "invalid TOML")


def test_unknown_key_with_suggestion(rh):
    s = rh.scenario(GOOD.replace('script = "w.py"', 'script = "w.py"\ntimout = "3s"'), {"w.py": ""})
    assert_usage_error(rh, rh.run(s), "scenario.toml:4:1", 'unknown key "timout"', 'did you mean "timeout"?')


def test_wrong_type(rh):
    s = rh.scenario(GOOD.replace("runs = 2", 'runs = "two"'), {"w.py": ""})
    assert_usage_error(rh, rh.run(s), "scenario.toml:6:8", "run.runs must be an integer")


def test_missing_interpreter(rh):
    s = rh.scenario(GOOD.replace(DEBIAN_PYTHON, "python9.99"), {"w.py": ""})
    assert_usage_error(rh, rh.run(s), "scenario.toml:4:10", 'interpreter "python9.99" not found')


def test_missing_interpreter_on_command_line(rh):
    s = rh.scenario(GOOD, {"w.py": ""})
    assert_usage_error(rh, rh.run(s, "--python", "/no/such/python"), "--python", "not found")


def test_missing_script(rh):
    s = rh.scenario(GOOD)
    assert_usage_error(rh, rh.run(s), "scenario.toml:3:10", "w.py not found")


@pytest.mark.parametrize("value", ["0", "-3"])
def test_runs_must_be_positive(rh, value):
    s = rh.scenario(GOOD, {"w.py": ""})
    assert_usage_error(rh, rh.run(s, "--runs", value), "--runs", "at least 1")


def test_negative_jobs_on_command_line(rh):
    # -j 0 means one run per core, as jobs = 0 in a scenario (test_first_contact.py).
    s = rh.scenario(GOOD, {"w.py": ""})
    assert_usage_error(rh, rh.run(s, "-j", "-1"), "--jobs", "at least 0")


def test_unwritable_results_path(rh):
    s = rh.scenario(GOOD, {"w.py": ""})
    (rh.dir / "file").write_text("not a directory")
    assert_usage_error(rh, rh.run(s, "--out", rh.dir / "file" / "sub"), "--out", "cannot create directory")


def test_unknown_option_suggests(rh):
    s = rh.scenario(GOOD, {"w.py": ""})
    assert_usage_error(rh, rh.run(s, "--rusn", "3"), "--rusn", "did you mean --runs?")


def test_bad_duration_option(rh):
    s = rh.scenario(GOOD, {"w.py": ""})
    assert_usage_error(rh, rh.run(s, "--timeout", "soon"), "--timeout", "not a positive duration")


def test_bad_profile_option(rh):
    s = rh.scenario(GOOD, {"w.py": ""})
    assert_usage_error(rh, rh.run(s, "--profile", "agressive"), "--profile", 'did you mean "aggressive"?')


def test_replay_needs_a_run_seed(rh):
    s = rh.scenario(GOOD, {"w.py": ""})
    assert_usage_error(rh, rh.run("replay", s), "--seed")
    assert_usage_error(rh, rh.run("replay", s, "--seed", "zz"), "--seed", "not a run seed")


def test_no_arguments_prints_help_and_exits_2(rh):
    r = rh.run()
    assert r.returncode == 2
    assert "Usage:" in r.stdout


def test_version(rh):
    r = rh.run("--version")
    assert r.returncode == 0 and r.stdout.startswith("racehunt ")
