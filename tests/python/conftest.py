"""In-process tests of the Python injectors: their modules are imported from
injectors/python, and protocol.h is parsed from the repository."""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INJECTORS = REPO / "injectors" / "python"
if str(INJECTORS) not in sys.path:
    sys.path.insert(0, str(INJECTORS))
