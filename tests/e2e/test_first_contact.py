"""First contact: what a new user meets first. Every printed command can be
pasted, help is help, seeds are checked, campaigns do not mix, and the docs say what the
program does. Deterministic: no assertion here depends on a race firing."""
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

from racehunt_testlib import DEBIAN_PYTHON, REPO, build_dir, read_records, scenario_toml

COMMANDS = ["run", "replay", "minimize", "merge", "compare"]

# Fails every run, deterministically, with no perturbation needed.
ALWAYS_FAILS = 'invariants = ["total == 1"]'


def option_forms(help_text):
    """The options a --help lists in its Options section: (long, short or None)."""
    return [(m.group(2), m.group(1)) for m in re.finditer(r"^  (?:(-\w) \[ )?(--[a-z][a-z-]*)", help_text, re.M)]


def option_names(help_text):
    return sorted({long for long, _ in option_forms(help_text)})


def shell(cmd, cwd, env=None, timeout=300):
    """Runs a printed command line as a user pastes it: through the shell."""
    full = dict(os.environ)
    full["NO_COLOR"] = "1"
    full.update(env or {})
    return subprocess.run(["/bin/sh", "-c", cmd], cwd=str(cwd), env=full, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=timeout)


# --- 1. install, printed commands, --version -------------------------------------------

@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """racehunt installed by its CMake rule into a fresh prefix (no build tree beside it)."""
    prefix = tmp_path_factory.mktemp("prefix")
    r = subprocess.run(["cmake", "--install", str(build_dir()), "--prefix", str(prefix)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert r.returncode == 0, r.stdout
    return prefix


def test_installed_racehunt_runs_without_the_build_tree_and_prints_racehunt(rh, installed):
    assert (installed / "bin" / "racehunt").exists()
    assert (installed / "lib" / "racehunt" / "libracehunt_shim.so").exists()
    assert (installed / "lib" / "racehunt" / "python" / "sitecustomize.py").exists()
    rh.scenario(scenario_toml(check=ALWAYS_FAILS, runs=2), {"w.py": "total = 2\n"})
    env = {"PATH": "%s:%s" % (installed / "bin", os.environ["PATH"])}
    env.pop("RACEHUNT_DATA_DIR", None)
    r = shell("racehunt scenario.toml -j 2 --out first", rh.dir, env)
    assert r.returncode == 1, r.stdout + r.stderr
    replay = re.search(r"^\s+replay: (.*)$", r.stdout, re.M).group(1)
    assert replay.startswith("racehunt replay scenario.toml --seed "), replay
    # The shim and the bootstrap came from the install: the run was injected and jittered.
    rec = read_records(rh.dir / "first")[0]
    assert rec["injected"] is True
    # Pasted as printed, it replays the failure (exit 1: the failure came back).
    r2 = shell(replay + " --quiet", rh.dir, env)
    assert r2.returncode == 1, r2.stdout + r2.stderr


def test_a_racehunt_not_on_path_prints_the_path_it_was_started_by(rh, installed):
    rh.scenario(scenario_toml(check=ALWAYS_FAILS, runs=1), {"w.py": "total = 2\n"})
    rel = os.path.relpath(installed / "bin" / "racehunt", rh.dir)
    r = shell("%s scenario.toml --out a" % shlex.quote(rel), rh.dir)
    assert r.returncode == 1, r.stdout + r.stderr
    replay = re.search(r"^\s+replay: (.*)$", r.stdout, re.M).group(1)
    assert replay.startswith(shlex.quote(rel) + " replay scenario.toml --seed "), replay
    assert shell(replay + " --quiet", rh.dir).returncode == 1
    # A racehunt on PATH that is another binary does not count.
    other = rh.dir / "otherbin"
    other.mkdir()
    (other / "racehunt").write_text("#!/bin/sh\nexit 99\n")
    (other / "racehunt").chmod(0o755)
    r = shell("%s scenario.toml --out b" % shlex.quote(rel), rh.dir, {"PATH": "%s:%s" % (other, os.environ["PATH"])})
    replay = re.search(r"^\s+replay: (.*)$", r.stdout, re.M).group(1)
    assert replay.startswith(shlex.quote(rel) + " replay "), replay


def test_version_names_the_commit(rh):
    r = rh.run("--version")
    assert r.returncode == 0, r.explain()
    m = re.fullmatch(r"racehunt \d+\.\d+\.\d+ \(commit ([0-9a-f]{7,40})(-dirty)?\)\n", r.stdout)
    assert m, r.stdout
    if (REPO / ".git").exists():
        ok = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", m.group(1) + "^{commit}"])
        assert ok.returncode == 0, "%s is not a commit of this repository" % m.group(1)


# --- 3. help ------------------------------------------------------------------------------

@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_subcommand_has_help(rh, command, flag):
    r = rh.run(command, flag)
    assert r.returncode == 0 and r.stderr == "", r.explain()
    assert r.stdout.startswith("racehunt %s: " % command), r.explain()
    assert "\nUsage:\nracehunt " in r.stdout and "\nOptions:\n" in r.stdout, r.explain()
    assert "--help" in option_names(r.stdout)


def test_top_level_help_lists_every_subcommand_and_option(rh):
    top = rh.run("--help")
    assert top.returncode == 0, top.explain()
    for command in COMMANDS:
        assert re.search(r"^  %s\s" % command, top.stdout, re.M), command
        sub = rh.run(command, "--help").stdout
        usage = sub.split("\nUsage:\n", 1)[1].split("\n\n", 1)[0]
        assert usage in top.stdout, (command, usage)
        for opt, short in option_forms(sub):
            if opt != "--help":
                assert re.search(r"[\[ ](%s|%s)[ \]]" % (opt, short), usage), \
                    "%s: %s is in --help but not in the usage line" % (command, opt)
    assert "--start" in top.stdout and "DIR..." in top.stdout


def test_every_option_is_documented(rh):
    docs = (REPO / "README.md").read_text() + "".join(p.read_text() for p in (REPO / "docs").glob("*.md"))
    missing = []
    for command in COMMANDS:
        for opt in option_names(rh.run(command, "--help").stdout):
            if opt not in docs:
                missing.append("%s %s" % (command, opt))
    assert not missing, "options in --help that README.md and docs/ never mention: %s" % missing


@pytest.mark.parametrize("args,command", [
    (["--bogus"], "run"), (["replay", "x.toml", "--bogus"], "replay"), (["minimize", "--bogus"], "minimize"),
    (["merge", "--bogus"], "merge"), (["compare", "--bogus"], "compare"),
])
def test_each_error_hint_names_the_command_in_use(rh, args, command):
    r = rh.run(*args)
    assert r.returncode == 2, r.explain()
    assert "see racehunt %s --help" % command in r.stderr, r.explain()


def test_replay_with_no_arguments_suggests_replay_not_run(rh):
    r = rh.run("replay")
    assert r.returncode == 2, r.explain()
    assert "racehunt replay SCENARIO.toml --seed RUNSEED" in r.stderr and "--runs 500" not in r.stderr, r.explain()


def test_a_bad_value_is_echoed(rh):
    s = rh.scenario(scenario_toml(), {"w.py": ""})
    r = rh.run(s, "--runs", "abc")
    assert r.returncode == 2 and '--runs: has an invalid value: "abc"' in r.stderr, r.explain()
    r = rh.run(s, "--runs=x7")
    assert r.returncode == 2 and '"x7"' in r.stderr, r.explain()


# --- 5. seeds -------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["replay", "minimize"])
@pytest.mark.parametrize("seed", ["123", "abc", "0x0123456789abcdef", "0123456789abcdef0", "0123456789abcdeg", ""])
def test_a_run_seed_is_exactly_16_hex_digits(rh, command, seed):
    s = rh.scenario(scenario_toml(), {"w.py": ""})
    r = rh.run(command, s, "--seed", seed)
    assert r.returncode == 2, r.explain()
    assert "exactly 16 hex digits" in r.stderr, r.explain()
    assert not list(Path(rh.dir).rglob("results.jsonl")), r.explain()


# --- 7. --out hygiene ---------------------------------------------------------------------

def test_a_second_campaign_sets_the_first_aside_and_resume_adds(rh):
    s = rh.scenario(scenario_toml(check=ALWAYS_FAILS, runs=3, jobs=2), {"w.py": "total = 2\n"})
    out = rh.dir / "out"
    assert rh.run(s, "--out", out, "--quiet").returncode == 1
    first = sorted(p.name for p in (out / "failures").iterdir())
    assert len(first) == 3
    r = rh.run(s, "--out", out, "--runs", 2, "--seed", 9)
    assert r.returncode == 1, r.explain()
    assert "the previous campaign in %s was moved to %s.previous-1" % (out, out) in r.stderr, r.explain()
    assert len(r.records(out)) == 2 and len(list((out / "failures").iterdir())) == 2
    assert not any("-" in p.name for p in (out / "failures").iterdir())
    prev = rh.dir / "out.previous-1"
    assert sorted(p.name for p in (prev / "failures").iterdir()) == first
    assert len(r.records(prev)) == 3 and (prev / "summary.json").exists()
    # A third goes to .previous-2; --resume adds to the campaign in place.
    assert rh.run(s, "--out", out, "--runs", 1, "--seed", 10, "--quiet").returncode == 1
    assert len(r.records(rh.dir / "out.previous-2")) == 2
    # (Resuming a finished campaign runs nothing and moves nothing.)
    r = rh.run(s, "--resume", out / "results.jsonl", "--quiet")
    assert r.returncode == 1, r.explain()
    assert not (rh.dir / "out.previous-3").exists() and len(r.records(out)) == 1


# --- 8. the docs are true -------------------------------------------------------------------

def test_jobs_zero_means_every_core(rh):
    s = rh.scenario(scenario_toml(runs=2), {"w.py": ""})
    r = rh.run(s, "-j", 0, "--out", rh.dir / "o")
    assert r.returncode == 0, r.explain()
    assert ", -j %d, " % os.cpu_count() in r.stderr, r.explain()


def test_one_run_without_failure_states_the_exact_bound_in_the_singular(rh):
    s = rh.scenario(scenario_toml(runs=1), {"w.py": ""})
    r = rh.run(s, "--out", rh.dir / "o")
    assert r.returncode == 0, r.explain()
    assert "0 failures in 1 run: failure rate < 95.0% at 95% confidence" in r.stdout, r.explain()
    assert r.summary(rh.dir / "o")["scenarios"][0]["upper_bound_95"] == pytest.approx(0.95)


def test_warnings_counted_over_runs_do_not_say_this_run(rh):
    # Nothing to perturb: an empty workload under the shim-only profile reaches no sync point.
    s = rh.scenario(scenario_toml(runs=2, jitter='profile = "none"'), {"w.py": ""})
    r = rh.run(s, "--out", rh.dir / "o")
    assert r.returncode == 0, r.explain()
    assert "in this run (2 runs)" not in r.stdout


def test_a_timeout_shorter_than_start_up_does_not_blame_the_bootstrap(rh):
    s = rh.scenario(scenario_toml(runs=1), {"w.py": ""})
    r = rh.run(s, "--timeout", "1ms", "--out", rh.dir / "o")
    assert r.returncode == 1, r.explain()
    assert "bootstrap" not in r.stdout + r.stderr, r.explain()
    assert r.records(rh.dir / "o")[0]["outcome"] == "hang", r.explain()
    # (Killed before the bootstrap reported, the run says so; on a loaded machine the kill
    # may come after it did, and then there is nothing to say. A process the kill caught
    # after the shim loaded but before the bootstrap armed it is not blamed either.)


def test_a_timed_out_run_does_not_blame_the_bootstrap_of_a_process_it_killed(rh):
    # The deterministic form of the test above: the child never arms the shim (-I) and is
    # still running when the timeout kills the run, as a process caught in its start-up is.
    w = 'import subprocess, sys\nsubprocess.run([sys.executable, "-I", "-c", "import time; time.sleep(60)"])\n'
    s = rh.scenario(scenario_toml(runs=1, timeout="2s", jitter="shim = { probability = 0.5 }"), {"w.py": w})
    r = rh.run(s, "--out", rh.dir / "o")
    assert r.returncode == 1, r.explain()
    assert r.records(rh.dir / "o")[0]["outcome"] == "hang", r.explain()
    assert "bootstrap" not in r.stdout + r.stderr, r.explain()
    assert rh.survivors() == []


def test_a_python_child_started_with_dash_capital_i_is_named_as_not_bootstrapped(rh):
    # The other side of the test above: a run that ends by itself, whose child Python
    # ignored PYTHONPATH (-I), so the shim loaded into it but the bootstrap never armed it.
    w = ('import subprocess, sys\n'
         'subprocess.run([sys.executable, "-I", "-c", "import threading\\nl = threading.Lock()\\n'
         'for _ in range(1000):\\n    l.acquire(); l.release()"], check=True)\n')
    s = rh.scenario(scenario_toml(runs=1, jitter="shim = { probability = 0.5 }"), {"w.py": w})
    r = rh.run(s, "--out", rh.dir / "o")
    assert r.returncode == 0, r.explain()
    assert "warning: 1 Python process(es) never ran racehunt's bootstrap to its end (-I, -S" in r.stdout, r.explain()


def test_junit_time_is_wall_time(rh):
    # Two runs of 1 s side by side: about 1 s of wall time, 2 s of runs.
    s = rh.scenario(scenario_toml(runs=2, jobs=2, jitter='profile = "none"'), {"w.py": "import time\ntime.sleep(1)\n"})
    r = rh.run(s, "--out", rh.dir / "o", "--junit", rh.dir / "j.xml")
    assert r.returncode == 0, r.explain()
    elapsed = r.summary(rh.dir / "o")["elapsed_s"]
    xml = (rh.dir / "j.xml").read_text()
    times = [float(t) for t in re.findall(r'<testsuites [^>]*time="([0-9.]+)"', xml)]
    assert times and times[0] == pytest.approx(elapsed, rel=1e-3), (times, elapsed)
    runs = sum(x["duration_ms"] for x in r.records(rh.dir / "o")) / 1000
    assert runs > elapsed * 1.2, (runs, elapsed)  # the runs overlapped; their sum is not the time


def test_interrupted_campaign_prints_the_resume_command_and_it_works(rh):
    rh.scenario(scenario_toml(runs=20, jobs=2, jitter='profile = "none"'), {"w.py": "import time\ntime.sleep(0.3)\n"})
    out = rh.dir / "o"
    argv = [rh.exe, "scenario.toml", "--out", str(out), "--quiet"]
    p = subprocess.Popen(argv, cwd=str(rh.dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, universal_newlines=True)
    deadline = time.time() + 60
    while time.time() < deadline and (not (out / "results.jsonl").exists()
                                      or len((out / "results.jsonl").read_text().splitlines()) < 2):
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 130, stdout + stderr
    m = re.search(r"interrupted after (\d+) of 20 runs; to run the rest:\n  (.*)\n", stdout)
    assert m, stdout
    assert "--resume" in m.group(2)
    r = shell(m.group(2) + " --quiet", rh.dir)
    assert r.returncode == 0, r.stdout + r.stderr
    recs = read_records(out)
    assert sorted(x["run"] for x in recs) == list(range(20))


def test_a_python_matrix_shares_one_campaign_seed(rh):
    s = rh.scenario(scenario_toml(python=[DEBIAN_PYTHON, DEBIAN_PYTHON], runs=2, seed=None), {"w.py": ""})
    r = rh.run(s, "--out", rh.dir / "o", "--quiet")
    assert r.returncode == 0, r.explain()
    seeds = {x["campaign_seed"] for x in r.summary(rh.dir / "o")["scenarios"]}
    assert len(r.summary(rh.dir / "o")["scenarios"]) == 2 and len(seeds) == 1, r.summary(rh.dir / "o")


def test_a_pytest_dump_names_the_interpreter(rh):
    s = rh.scenario(scenario_toml(pytest="test_x.py::test_a", runs=1),
                    {"test_x.py": "def test_a():\n    assert 1 == 2\n"})
    r = rh.run(s, "--out", rh.dir / "o", "--quiet")
    assert r.returncode == 1, r.explain()
    dump = next((rh.dir / "o" / "failures").iterdir()) / "dump.txt"
    assert re.search(r"^  command: %s -m pytest .*test_x\.py::test_a$" % re.escape(DEBIAN_PYTHON),
                     dump.read_text(), re.M), dump.read_text()[:2000]


def test_every_key_in_the_scenario_docs_is_accepted(rh):
    """Each key of docs/SCENARIO.md's tables, set alone (with a wrong value), is known to the
    parser: its error is about the value, never 'unknown key'."""
    text = (REPO / "docs" / "SCENARIO.md").read_text()
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    keys = []
    for sec in sections:
        title = sec.splitlines()[0]
        m = re.match(r"`\[(\w+)\]`", title)
        table = m.group(1) if m else ""
        for key in re.findall(r"^\| `(\w+)` \|", sec, re.M):
            keys.append((table, key))
    assert len(keys) >= 30, keys
    for table, key in keys:
        tables = {"": ['name = "t"'], "workload": ['script = "w.py"', 'python = "/nonexistent/python3"'],
                  "jitter": [], "check": [], "run": []}
        if (table, key) in (("", "name"), ("workload", "script"), ("workload", "python")):
            continue  # already set, and accepted: the run below gets as far as the interpreter
        tables[table].append("%s = {bogus = 1}" % key)
        toml = "\n".join(tables[""]) + "\n" + "".join(
            "[%s]\n%s\n" % (t, "\n".join(lines)) for t, lines in tables.items() if t)
        s = rh.scenario(toml, {"w.py": ""}, name="k.toml")
        r = rh.run(s)
        assert r.returncode == 2, (table, key, r.explain())
        assert "unknown key \"%s\"" % key not in r.stderr, (table, key, r.stderr)
        assert ("%s." % table if table else "") + key in r.stderr or "/nonexistent/python3" in r.stderr, \
            (table, key, r.stderr)
