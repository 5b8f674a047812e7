"""What the end-to-end and reliability tests share: which build is under test, where the
interpreters are, how a scenario is written, how racehunt is run, and how its results
are read.

tests/e2e/conftest.py and tests/reliability/conftest.py put this directory on sys.path
and hold only fixtures; test modules import from here.
"""
import functools
import json
import os
import re
import shlex
import subprocess
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEBIAN_PYTHON = "/usr/bin/python3.11"
# The CPython versions racehunt supports, as pyenv names their builds' leading part.
PYENV_VERSIONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13")


# --- The build under test

def build_dir():
    """The build tree every test runs: RACEHUNT_BUILD_DIR, else the repository's build/."""
    d = os.environ.get("RACEHUNT_BUILD_DIR")
    return Path(d) if d else REPO / "build"


# --- Interpreters

@functools.lru_cache(maxsize=None)
def pyenv_root():
    """PYENV_ROOT, else what `pyenv root` says, else ~/.pyenv."""
    root = os.environ.get("PYENV_ROOT")
    if root:
        return Path(root)
    try:
        out = subprocess.run(["pyenv", "root"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             universal_newlines=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return Path.home() / ".pyenv"


def pyenv_python(version):
    """The python3 of the first installed pyenv build of `version` ("3.12": 3.12.x), or None."""
    root = pyenv_root() / "versions"
    if not root.is_dir():
        return None
    for d in sorted(root.iterdir()):
        if (d.name == version or d.name.startswith(version + ".")) and (d / "bin" / "python3").exists():
            return str(d / "bin" / "python3")
    return None


def interpreters():
    """(id, path or None) of Debian's python3.11 and of the pyenv build of each supported
    version; the id of a pyenv build is its full version, or PYENV_VERSIONS' name when the
    build is missing (path None)."""
    found = [("debian-3.11", DEBIAN_PYTHON if os.path.exists(DEBIAN_PYTHON) else None)]
    for version in PYENV_VERSIONS:
        path = pyenv_python(version)
        found.append((Path(path).parents[1].name if path else version, path))
    return found


# --- Scenarios

def _toml_string(s):
    return '"%s"' % s


def scenario_toml(script="w.py", python=DEBIAN_PYTHON, timeout="10s", jitter="", check="",
                  runs=5, seed=1, jobs=None, extra="", name="t", pytest=None, command=None,
                  run_extra=""):
    """A scenario's text; results go under racehunt-out/<name>. The workload is `script`,
    or the pytest node `pytest`, or the argument list `command`; `python` may be a list (a
    matrix). A key given as None is left out (racehunt's default applies); `extra` goes into
    [workload], `jitter`, `check` and `run_extra` into their tables."""
    workload = ["pytest = %s" % _toml_string(pytest) if pytest is not None
                else "command = [%s]" % ", ".join(_toml_string(a) for a in command) if command is not None
                else "script = %s" % _toml_string(script)]
    if python is not None:
        workload.append("python = %s" % ("[%s]" % ", ".join(_toml_string(p) for p in python)
                                         if isinstance(python, (list, tuple)) else _toml_string(python)))
    if timeout is not None:
        workload.append("timeout = %s" % _toml_string(timeout))
    run = ["runs = %d" % runs]
    if seed is not None:
        run.append("seed = %d" % seed)
    if jobs is not None:
        run.append("jobs = %d" % jobs)
    text = "\n"
    if name is not None:
        text += "name = %s\n" % _toml_string(name)
    text += "[workload]\n%s\n%s\n[jitter]\n%s\n[check]\n%s\n[run]\n%s\n" % (
        "\n".join(workload), extra, jitter, check, "\n".join(run))
    return text + run_extra


def write_scenario(path, toml=None, files=None, **keys):
    """Writes the scenario file `path` (the text `toml`, else scenario_toml(**keys)) and
    `files` ({relative path: text}, relative to its directory; a "#!" file is made
    executable). Returns `path`."""
    path = Path(path)
    for rel, text in (files or {}).items():
        p = path.parent / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        if text.startswith("#!"):
            p.chmod(0o755)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(scenario_toml(**keys) if toml is None else toml)
    return path


# --- Results

# minimize's result line: size of the minimal set, failing replays, replays.
MINIMAL_LINE = re.compile(r"^minimal: (\d+) perturbation\(s\), reproduces (\d+)/(\d+)$", re.M)


def read_jsonl(path):
    """The objects of a JSON-lines file, in order (blank lines skipped)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def replay_thread_log(text):
    """threads-<pid>.jsonl's text replayed as the harness does: the live threads, in order."""
    live = []
    for line in text.splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue                # cut short
        if "live" in e:
            live = list(e["live"])
        elif "begin" in e:
            entry = dict(e, ident=e["begin"])
            del entry["begin"]
            live = [t for t in live if t["ident"] != entry["ident"]] + [entry]
        elif "end" in e:
            live = [t for t in live if t["ident"] != e["end"]]
    return live


def read_records(out_dir):
    """The run records of a campaign's results.jsonl, in order."""
    return read_jsonl(Path(out_dir) / "results.jsonl")


def read_summary(out_dir):
    """A campaign's summary.json."""
    return json.loads((Path(out_dir) / "summary.json").read_text())


def outcome_counts(recs):
    """{"pass": N, "fail": M, ...}: how many records have each outcome."""
    counts = {}
    for x in recs:
        counts[x["outcome"]] = counts.get(x["outcome"], 0) + 1
    return counts


# --- Running racehunt

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
        return read_summary(out_dir)


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
    """The built racehunt, run in one test's directory; a RH_TEST_MARK variable tags every
    process it starts, so that survivors() finds any a run left behind."""

    def __init__(self, tmp_path):
        self.exe = str(build_dir() / "racehunt")
        # How printed commands name this binary: by its path, as it is not the racehunt
        # PATH finds (setup.sh installs one; the tests check the build).
        self.printed = self.exe
        self.dir = tmp_path
        self.mark = "rhtest-" + uuid.uuid4().hex[:12]

    def scenario(self, toml, files=None, name="scenario.toml"):
        """Writes the scenario `name` and its files into the test's directory."""
        return write_scenario(self.dir / name, toml, files)

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


def racehunt(tmp_path):
    """A Racehunt working in `tmp_path`; the test is skipped when racehunt is not built."""
    if not (build_dir() / "racehunt").exists():
        pytest.skip("racehunt is not built (set RACEHUNT_BUILD_DIR or run scripts/setup.sh)")
    return Racehunt(tmp_path)
