"""Fixtures of the reliability tests: `rh` as in the end-to-end tests, and `hostile_rows`,
the table of hostile cases printed at the end of the session (and written next to the
build)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from racehunt_testlib import build_dir, racehunt  # noqa: E402

ROWS = []


@pytest.fixture
def rh(tmp_path):
    return racehunt(tmp_path)


@pytest.fixture
def hostile_rows():
    """Rows (case, start, outcomes, processes left, peak RSS in MiB) of the summary table."""
    return ROWS


def pytest_terminal_summary(terminalreporter):
    if not ROWS:
        return
    lines = ["| case | start | outcome | processes left | racehunt peak RSS |", "|---|---|---|---|---|"]
    for row in sorted(ROWS):
        lines.append("| %s | %s | %s | %d | %.1f MiB |" % row)
    terminalreporter.write_sep("-", "hostile workloads")
    for line in lines:
        terminalreporter.write_line(line)
    try:
        (build_dir() / "reliability.md").write_text("\n".join(lines) + "\n")
    except OSError:
        pass
