"""In-process tests of racehunt's Python injectors: the modules of injectors/python are
imported here directly, without a run (tests/e2e drives them through real runs)."""
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INJECTORS = REPO / "injectors" / "python"
PACKAGE = INJECTORS / "_racehunt"
sys.path.insert(0, str(INJECTORS))
sys.path.insert(0, str(REPO / "tests"))     # racehunt_testlib: the interpreters of this machine


@pytest.fixture
def process_state():
    """racehunt's process state, put back as it was after the test (tests set the process
    key, the yield points and the directories the way install() would)."""
    from _racehunt import state
    names = ("process_key", "yields", "control", "our_files", "our_dir", "package_dir",
             "start_cwd", "run_dir", "pid")
    saved = {n: getattr(state, n) for n in names}
    yield state
    for name, value in saved.items():
        setattr(state, name, value)
