"""Shared fixtures for the end-to-end tests: the built racehunt binary, inline scenarios,
and a check that no process of a run is left behind.

Each test writes its workload inline into a kept temporary directory; when an assertion
fails, the message carries the exact command to repeat it by hand.
"""
import json
import os
import re
import shlex
import subprocess
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEBIAN_PYTHON = "/usr/bin/python3.11"


def build_dir():
    d = os.environ.get("RACEHUNT_BUILD_DIR")
    return Path(d) if d else REPO / "build"


def pyenv_python(version_prefix):
    """The pyenv interpreter whose version starts with `version_prefix`, or None."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if not root.is_dir():
        return None
    for d in sorted(root.iterdir()):
        if d.name.startswith(version_prefix) and (d / "bin" / "python3").exists():
            return str(d / "bin" / "python3")
    return None


def scenario_toml(script="w.py", python=DEBIAN_PYTHON, timeout="10s", jitter="", check="",
                  runs=5, seed=1, jobs=None, extra=""):
    """A scenario named "t" (results under racehunt-out/t); `extra` goes into [workload]."""
    return """
name = "t"
[workload]
script = "%s"
python = "%s"
timeout = "%s"
%s
[jitter]
%s
[check]
%s
[run]
runs = %d
seed = %d
%s""" % (script, python, timeout, extra, jitter, check, runs, seed,
         "jobs = %d\n" % jobs if jobs is not None else "")


# minimize's result line: size of the minimal set, failing replays, replays.
MINIMAL_LINE = re.compile(r"^minimal: (\d+) perturbation\(s\), reproduces (\d+)/(\d+)$", re.M)


def read_records(out_dir):
    """The run records of a campaign's results.jsonl, in order."""
    lines = (Path(out_dir) / "results.jsonl").read_text().splitlines()
    return [json.loads(l) for l in lines if l.strip()]


def outcome_counts(recs):
    """{"pass": N, "fail": M, ...}: how many records have each outcome."""
    counts = {}
    for x in recs:
        counts[x["outcome"]] = counts.get(x["outcome"], 0) + 1
    return counts


class Result:
    def __init__(self, argv, cwd, proc):
        self.argv = argv
        self.cwd = cwd
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    @property
    def repro(self):
        return "cd %s && %s" % (shlex.quote(str(self.cwd)), " ".join(shlex.quote(a) for a in self.argv))

    def explain(self):
        return "\nrepro: %s\nexit: %s\n--- stdout\n%s\n--- stderr\n%s" % (
            self.repro, self.returncode, self.stdout, self.stderr)

    def records(self, out_dir):
        return read_records(out_dir)

    def summary(self, out_dir):
        return json.loads((Path(out_dir) / "summary.json").read_text())


def audit(argv, cwd, proc):
    """With RACEHUNT_STAT_LOG set (tests/stress.sh sets it), appends what a statistical test's
    assertions read of this racehunt command to that file: the outcome counts and
    signatures of its campaign, the longest run, and minimize's result line.
    tests/stat_rates.py pools these over rounds into the rates each test's comment states."""
    log = os.environ.get("RACEHUNT_STAT_LOG")
    if not log:
        return
    entry = {"test": os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0],
             "argv": [a.replace(str(cwd), "$TMP") for a in argv[1:]], "exit": proc.returncode,
             "load": os.getloadavg()[0],
             "round": int(os.environ.get("RACEHUNT_STAT_ROUND", "0"))}
    if "--out" in argv:
        out = Path(cwd) / argv[argv.index("--out") + 1]
        if (out / "results.jsonl").exists():
            recs = read_records(out)
            signatures = {}
            for rec in recs:
                if rec["outcome"] != "pass":
                    signatures[rec["signature"]] = signatures.get(rec["signature"], 0) + 1
            entry.update(counts=outcome_counts(recs), signatures=signatures,
                         longest_s=max((rec.get("duration_ms", 0.0) / 1000 for rec in recs), default=0.0))
    m = MINIMAL_LINE.search(proc.stdout)
    if m:
        entry["minimal"] = [int(x) for x in m.groups()]
    with open(log, "a") as f:
        f.write(json.dumps(entry) + "\n")


class Racehunt:
    def __init__(self, tmp_path):
        self.exe = str(build_dir() / "racehunt")
        # How printed commands name this binary: by its path, as it is not the racehunt
        # PATH finds (setup.sh installs one; the tests check the build).
        self.printed = self.exe
        self.dir = tmp_path
        self.mark = "rhtest-" + uuid.uuid4().hex[:12]

    def scenario(self, toml, files=None, name="scenario.toml"):
        """Writes the scenario and its files; a RH_TEST_MARK env var tags every process."""
        for rel, text in (files or {}).items():
            p = self.dir / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
            if text.startswith("#!"):
                p.chmod(0o755)
        path = self.dir / name
        path.write_text(toml)
        return path

    def run(self, *args, timeout=300, env=None, cwd=None):
        argv = [self.exe] + [str(a) for a in args]
        full_env = dict(os.environ)
        full_env["RH_TEST_MARK"] = self.mark
        full_env["NO_COLOR"] = "1"
        full_env.update(env or {})
        cwd = cwd or self.dir
        proc = subprocess.run(argv, cwd=cwd, env=full_env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=timeout)
        audit(argv, cwd, proc)
        return Result(argv, cwd, proc)

    def survivors(self):
        """Processes still alive that carry this test's mark (any run's leftovers)."""
        found = []
        needle = ("RH_TEST_MARK=" + self.mark).encode()
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open("/proc/%s/environ" % pid, "rb") as f:
                    env = f.read()
                with open("/proc/%s/stat" % pid) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if needle in env.split(b"\0") and state != "Z":
                found.append(int(pid))
        return found


@pytest.fixture
def rh(tmp_path):
    if not (build_dir() / "racehunt").exists():
        pytest.skip("racehunt is not built (set RACEHUNT_BUILD_DIR or run scripts/setup.sh)")
    return Racehunt(tmp_path)
