"""The names of the harness <-> injector protocol have one home: injectors/protocol.h.

The Python injectors cannot include a C header, so this test reads it and holds the
Python side to it; the C and C++ sides must use its macros, not retype the names.
"""
import re

from conftest import REPO

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
