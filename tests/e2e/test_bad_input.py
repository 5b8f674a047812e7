"""Bad input: a one-line error naming the place and the fix, exit status 2, nothing run."""
import os
import re
from pathlib import Path

import pytest

from racehunt_testlib import DEBIAN_PYTHON

# Spelled out rather than written by scenario_toml: the errors below name line:column
# positions in this text.
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


# Configuration mistakes that would fail every run the same way: found before any run
# (invariants that do not compile, a pytest node that cannot be collected), or after the
# first runs all failed for a reason that is the configuration's (a missing module, an
# invariant that names nothing, a usage error): exit 2, never a failure rate.

def assert_nothing_ran(rh):
    assert not list(Path(rh.dir).rglob("results.jsonl"))
    assert not list(Path(rh.dir).rglob("failures"))
    assert not list(Path(rh.dir).rglob(".work"))


def test_invariant_syntax_error_names_its_element_before_any_run(rh):
    s = rh.scenario(GOOD + '[check]\ninvariants = ["x == 1",\n              "x == = 2000"]\n',
                    {"w.py": "x = 1\n"})
    r = rh.run(s)
    assert_usage_error(rh, r, "scenario.toml:9:15: check.invariants[1]: invalid syntax: x == = 2000",
                       "Python 3.11")
    assert_nothing_ran(rh)


@pytest.mark.parametrize("node,test_file,message", [
    ("test_x.py::test_nope", "def test_a():\n    pass\n", "ERROR: not found"),
    ("test_x.py", "import no_such_module_for_racehunt\ndef test_a():\n    pass\n",
     "No module named 'no_such_module_for_racehunt'"),
], ids=["missing-node", "import-error"])
def test_pytest_node_that_cannot_be_collected_is_reported_with_pytests_message_before_any_run(
        rh, node, test_file, message):
    s = rh.scenario(GOOD.replace('script = "w.py"', 'pytest = "%s"' % node), {"test_x.py": test_file})
    r = rh.run(s)
    assert r.returncode == 2, r.explain()
    assert r.stderr.startswith("racehunt: error: "), r.explain()
    assert "scenario.toml:3:10" in r.stderr, r.explain()
    assert message in r.stderr and node in r.stderr, r.explain()
    assert_nothing_ran(rh)


def config_stop(rh, workload, check="", runs=20, *args):
    s = rh.scenario(GOOD.replace("runs = 2", "runs = %d" % runs) + check, {"w.py": workload})
    out = rh.dir / "o"
    r = rh.run(s, "-j", 2, "--out", out, *args)
    return r, out


def assert_config_stop(rh, r, out, runs, *fragments):
    assert r.returncode == 2, r.explain()
    assert "this looks like a configuration error, not a race" in r.stderr, r.explain()
    for f in fragments:
        assert f in r.stderr, r.explain()
    records = r.records(out)
    assert 3 <= len(records) < runs, r.explain()
    assert r.summary(out)["stop_reason"] == "config-error", r.explain()
    assert "STOPPED" in r.stdout and "FAILED" not in r.stdout, r.explain()
    assert rh.survivors() == [], "processes left behind: %s" % rh.survivors()


def test_invariant_naming_nothing_stops_the_campaign_early(rh):
    # Each run lasts a moment, so that with -j 2 a run is still going when the campaign stops.
    r, out = config_stop(rh, "import time\ntime.sleep(0.2)\ny = 1\n", '[check]\ninvariants = ["x == 2000"]\n')
    assert_config_stop(rh, r, out, 20, "scenario.toml:8:15", "NameError: name 'x' is not defined")


def test_missing_module_stops_the_campaign_early(rh):
    r, out = config_stop(rh, "import no_such_module_for_racehunt\n")
    assert_config_stop(rh, r, out, 20, "scenario.toml:4:10", "ModuleNotFoundError",
                       "No module named 'no_such_module_for_racehunt'")


def test_usage_error_of_the_workload_stops_the_campaign_early(rh):
    workload = "import argparse\np = argparse.ArgumentParser()\np.add_argument('--n', required=True)\np.parse_args()\n"
    r, out = config_stop(rh, workload)
    assert_config_stop(rh, r, out, 20, "usage: w.py", "the following arguments are required: --n")


def test_no_config_check_runs_every_run(rh):
    r, out = config_stop(rh, "import no_such_module_for_racehunt\n", "", 6, "--no-config-check")
    assert r.returncode == 1, r.explain()
    assert len(r.records(out)) == 6, r.explain()
    assert "configuration error" not in r.stderr, r.explain()
    # Its replay command keeps the option.
    assert all("--no-config-check" in x["replay"] for x in r.records(out)), r.explain()


def test_a_failure_in_every_run_that_is_not_the_configurations_is_not_stopped(rh):
    # A deterministic "race": every run fails its assertion; that is the workload's failure.
    r, out = config_stop(rh, "balance = 900\nassert balance == 1000, 'lost an update'\n", "", 6)
    assert r.returncode == 1, r.explain()
    assert len(r.records(out)) == 6, r.explain()
    assert "configuration error" not in r.stderr, r.explain()


def test_a_configuration_error_in_one_scenario_lets_the_next_run(rh):
    bad = rh.scenario(GOOD.replace("runs = 2", "runs = 10").replace("[workload]", 'name = "bad"\n[workload]'),
                      {"w.py": "import no_such_module_for_racehunt\n"}, name="bad.toml")
    good = rh.scenario(GOOD.replace("runs = 2", "runs = 4").replace("[workload]", 'name = "good"\n[workload]')
                       .replace("w.py", "g.py"), {"g.py": "x = 1\n"}, name="good.toml")
    out = rh.dir / "o"
    r = rh.run(bad, good, "-j", 2, "--out", out)
    assert r.returncode == 2, r.explain()
    assert len(r.records(out / "bad")) < 10, r.explain()
    assert len(r.records(out / "good")) == 4, r.explain()
    assert re.search(r"^bad .* config-error$", r.stdout, re.M), r.explain()
    assert re.search(r"^good .* ok$", r.stdout, re.M), r.explain()
