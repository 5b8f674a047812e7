"""The names of the harness <-> injector protocol have one home: injectors/protocol.h.

The Python injectors cannot include a C header, so this test reads it and holds the
Python side to it; the C and C++ sides must use its macros, not retype the names.
"""
import json
import time
import re

from racehunt_testlib import REPO, scenario_toml

PROTOCOL_H = REPO / "injectors" / "protocol.h"


def protocol_env_names():
    names = dict(re.findall(r'#define (RACEHUNT_ENV_\w+) "(RACEHUNT_\w+)"', PROTOCOL_H.read_text()))
    assert len(names) >= 9, names
    return set(names.values())


def literals(paths):
    found = {}
    for p in paths:
        for name in re.findall(r'"(RACEHUNT_[A-Z_]+)"', p.read_text()):
            found.setdefault(name, set()).add(p.relative_to(REPO).as_posix())
    return found


def test_every_environment_name_the_python_injectors_read_is_in_protocol_h():
    python = literals(sorted((REPO / "injectors" / "python").rglob("*.py")))
    assert python, "no RACEHUNT_ name found in the Python injectors"
    unknown = {n: sorted(f) for n, f in python.items() if n not in protocol_env_names()}
    assert not unknown, "not defined in injectors/protocol.h: %s" % unknown


def test_the_c_and_cpp_sides_use_the_macros_not_the_names():
    sources = [p for d in ("harness", "injectors/shim") for p in sorted((REPO / d).rglob("*"))
               if p.suffix in (".c", ".cpp", ".h", ".hpp")]
    assert len(sources) > 20, sources
    # (The user's own variables, RACEHUNT_DATA_DIR and RACEHUNT_SHARD, are not the protocol's.)
    spelled = {n: sorted(f) for n, f in literals(sources).items() if n in protocol_env_names()}
    assert not spelled, "use the RACEHUNT_ENV_* macro of injectors/protocol.h: %s" % spelled


def protocol_file_names():
    """Run-directory file names of protocol.h: whole names and per-process prefixes."""
    text = PROTOCOL_H.read_text()
    names = dict(re.findall(r'#define (RACEHUNT_FILE_\w+?(?:_PREFIX)?) "([^"]+)"', text))
    names = {v: k for k, v in names.items() if not k.endswith("_SUFFIX")}
    assert {"config.json", "py-", "shim-", "dumped-"} <= set(names), names
    return names


def c_sources():
    return [p for d in ("harness", "injectors") for p in sorted((REPO / d).rglob("*"))
            if p.suffix in (".c", ".cpp", ".h", ".hpp") and p != PROTOCOL_H]


def test_the_c_and_cpp_sides_name_run_files_by_the_macros():
    names = protocol_file_names()
    spelled = {}
    for p in c_sources():
        rel = p.relative_to(REPO).as_posix()
        for lit in re.findall(r'"/?([a-z_.-]+)"', p.read_text()):
            if lit in names:
                spelled.setdefault(rel, set()).add(lit)
    assert not spelled, "use the RACEHUNT_FILE_* macros of injectors/protocol.h: %s" % spelled


def test_the_stream_hashing_has_one_c_home():
    """splitmix64 and FNV-1a are racehunt_hash.h's; C and C++ code calls it."""
    home = REPO / "injectors" / "racehunt_hash.h"
    allowed = {home}
    constants = ("0xbf58476d1ce4e5b9", "0x94d049bb133111eb", "0xcbf29ce484222325", "0x100000001b3")
    copies = sorted({p.relative_to(REPO).as_posix() for p in c_sources() if p not in allowed
                     for c in constants if c in p.read_text().lower()})
    assert not copies, "a copy of racehunt_hash.h's arithmetic: %s" % copies
    assert all(c in home.read_text().lower() for c in constants)


GOLDEN = REPO / "tests" / "golden" / "protocol_vectors.json"

# The workload hands the run's config.json out of the run directory, as the harness wrote it.
COPY_CONFIG = """
import os, shutil
here = os.path.dirname(os.path.abspath(__file__))
shutil.copy(os.path.join(os.environ["RACEHUNT_RUN_DIR"], "config.json"),
            os.path.join(here, "config-copy.json"))
"""


def harness_config(rh, case):
    """config.json of run 0 of the golden file's `case`, with the scenario's directory (a
    temporary one) written as <scenario_dir>."""
    toml = scenario_toml(jitter=case["jitter"], runs=1, seed=case["campaign_seed"])
    s = rh.scenario(toml, {"w.py": COPY_CONFIG})
    r = rh.run(s, "--out", rh.dir / "out", *case["args"])
    copy = rh.dir / "config-copy.json"
    assert copy.exists(), r.explain()
    return json.loads(copy.read_text().replace(str(rh.dir), "<scenario_dir>"))


def test_the_harness_writes_the_golden_config_json(rh):
    cases = json.loads(GOLDEN.read_text("utf-8"))["config"]["cases"]
    assert len(cases) >= 2
    for case in cases:
        got = harness_config(rh, case)
        # calm_after is the run's timeout (10 s) as wall-clock time: within the minutes of
        # this test, then the golden file's value.
        if "calm_after" in got:
            assert abs(got["calm_after"] - (time.time() + 10)) < 300, got["calm_after"]
            got["calm_after"] = case["config"].get("calm_after")
        assert got == case["config"], case["name"]
