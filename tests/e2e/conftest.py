"""Fixtures of the end-to-end tests: `rh`, the built racehunt run in a kept temporary
directory. Each test writes its workload inline there; when an assertion fails, the
message carries the exact command to repeat it by hand.

What the tests share beyond fixtures is in tests/racehunt_testlib.py.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from racehunt_testlib import racehunt  # noqa: E402


@pytest.fixture
def rh(tmp_path):
    return racehunt(tmp_path)
