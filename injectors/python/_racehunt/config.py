"""config.json, the harness's instructions to every Python process of a run
(docs/PROTOCOL.md, "config.json"), with the defaults that apply when a field is absent.

Each section is read where the layer it configures is set up, so that a warning about a
bad field comes at the moment the layer starts (the asyncio section is read only once
the workload imports asyncio).
"""
import os

from . import jsonio
from . import protocol

# [control] defaults; the harness writes the same ones (docs/PROTOCOL.md).
CONTROL_STRATEGY = "pct"
CONTROL_DEPTH = 3
CONTROL_PCT_STEPS = 10000
CONTROL_MAX_STEPS = 200000
CONTROL_STALL = 2.0

GRANULARITIES = ("line", "opcode", "call")
# Where a yield point may switch threads: "native", only where the interpreter under test
# can switch by itself (native.py); "free-threaded", anywhere.
SEMANTICS = ("native", "free-threaded")
ASYNCIO_WARNINGS = "warn"


def read(run_dir):
    with open(os.path.join(run_dir, protocol.CONFIG_FILE), "rb") as f:
        data = f.read().decode("utf-8")
    config = jsonio.loads(data)
    if not isinstance(config, dict):
        raise jsonio.JsonError("config.json is not an object")
    return config


def section(config, name):
    value = config.get(name)
    return value if isinstance(value, dict) else {}


class Control(object):
    """The `control` section: controlled mode's scheduler settings."""

    def __init__(self, sec):
        self.strategy = str(sec.get("strategy") or CONTROL_STRATEGY)
        self.depth = int(sec.get("depth") or CONTROL_DEPTH)
        self.pct_steps = int(sec.get("pct_steps") or CONTROL_PCT_STEPS)
        self.max_steps = int(sec.get("max_steps") or CONTROL_MAX_STEPS)
        self.stall = float(sec.get("stall") or CONTROL_STALL)


class Yields(object):
    """The `yields` section: Python yield points. `warn` receives the complaints about
    malformed fields, which fall back to their defaults."""

    def __init__(self, sec, warn):
        try:
            self.probability = float(sec.get("probability") or 0.0)
        except (TypeError, ValueError):
            warn("yields.probability %r is not a number; yield points are off"
                 % (sec.get("probability"),))
            self.probability = 0.0
        granularity = sec.get("granularity") or "line"
        if granularity not in GRANULARITIES:
            warn("unknown yields.granularity %r; using \"line\"" % (granularity,))
            granularity = "line"
        self.granularity = granularity
        focus = sec.get("focus") or []
        if isinstance(focus, str):
            focus = [focus]
        self.focus = focus
        try:
            self.sites = min(max(float(sec.get("sites") or 0.0), 0.0), 1.0)
        except (TypeError, ValueError):
            warn("yields.sites %r is not a number; 0 is used" % (sec.get("sites"),))
            self.sites = 0.0
        semantics = sec.get("semantics") or "native"
        if semantics not in SEMANTICS:
            warn("unknown yields.semantics %r; using \"native\"" % (semantics,))
            semantics = "native"
        self.semantics = semantics
        self.log = sec.get("log")
        self.pins = sec.get("pins")
        self.trace = bool(sec.get("trace"))


class Asyncio(object):
    """The `asyncio` section and [check].asyncio_warnings."""

    def __init__(self, config, warn):
        sec = section(config, "asyncio")
        self.shuffle = self._probability(sec, "shuffle", warn)
        self.defer = self._probability(sec, "defer", warn)
        self.pins = sec.get("pins")
        self.check = section(config, "checks").get("asyncio_warnings") or ASYNCIO_WARNINGS

    @staticmethod
    def _probability(sec, key, warn):
        try:
            value = float(sec.get(key) or 0.0)
        except (TypeError, ValueError):
            warn("asyncio.%s %r is not a number; 0 is used" % (key, sec.get(key)))
            return 0.0
        return min(max(value, 0.0), 1.0)
