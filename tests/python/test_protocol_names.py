"""The Python injectors spell protocol.h's names, file names, layout and defaults as
protocol.h defines them.

Python cannot include a C header; this test parses injectors/protocol.h and reads the
Python sources (or imports their modules), as injectors/shim/gen_options_doc.py --check
holds docs/SHIM_OPTIONS.md to options.def. tests/e2e/test_protocol.py does the same for
the environment names, and holds the C and C++ sources to the macros.
"""
import re
import struct

import _racehunt_bootstrap as bootstrap
import _racehunt_control as control

import protocol_h
from conftest import INJECTORS, REPO

H = protocol_h.defines()


def sources():
    return {p.name: p.read_text() for p in sorted(INJECTORS.glob("*.py"))}


def test_protocol_h_parses():
    assert H["RACEHUNT_PROTOCOL_VERSION"] == 1
    assert H["RACEHUNT_FILE_CONFIG"] == "config.json"
    assert len(protocol_h.run_files()) >= 10


def test_version_magic_and_flags():
    assert bootstrap.PROTOCOL_VERSION == H["RACEHUNT_PROTOCOL_VERSION"]
    assert bootstrap._SHIM_MAGIC == H["RACEHUNT_SHIM_MAGIC"]
    assert bootstrap._SHIM_FLAG_ARMED == H["RACEHUNT_SHIM_FLAG_ARMED"]


# The files each Python module writes or reads per process, by protocol.h's key.
PYTHON_FILES = {
    "EVENTS": ["_racehunt_bootstrap.py", "_racehunt_site.py"],
    "SHIM_COUNTERS": ["_racehunt_bootstrap.py"],
    "THREADS": ["_racehunt_bootstrap.py"],
    "FAULTHANDLER": ["_racehunt_bootstrap.py"],
    "YIELDS": ["_racehunt_bootstrap.py"],
    "TRACE": ["_racehunt_bootstrap.py"],
    "CONTROL": ["_racehunt_bootstrap.py"],
    "DUMPED": ["_racehunt_bootstrap.py"],
    "PYSTACKS": ["_racehunt_forensics.py"],
    "LOOP": ["_racehunt_asyncio.py"],
}


def test_every_per_process_file_the_python_side_opens_is_named_by_protocol_h():
    files = protocol_h.run_files()
    known = {prefix + "%d" + suffix for prefix, suffix in files.values()}
    src = sources()
    # A file name as code spells it: a quoted "<word>-%d<suffix>" literal.
    spelled = {(name, m) for name, text in src.items()
               for m in re.findall(r'"([a-z]+-%d(?:\.[a-z]+)?)"', text)}
    assert spelled, "no per-process file name found in the Python injectors"
    unknown = sorted((n, m) for n, m in spelled if m not in known)
    assert not unknown, "not in injectors/protocol.h (RACEHUNT_FILE_*): %s" % unknown
    for key, modules in PYTHON_FILES.items():
        prefix, suffix = files[key]
        for module in modules:
            assert '"%s%%d%s"' % (prefix, suffix) in src[module], (key, module)


def test_config_json_is_protocol_h_s_name():
    text = sources()["_racehunt_bootstrap.py"]
    assert re.findall(r'os\.path\.join\(run_dir, "([^"]+)"\)', text) == [H["RACEHUNT_FILE_CONFIG"]]


# Where each default is spelled on the Python side: (module, pattern with one group).
DEFAULTS = {
    "RACEHUNT_DEFAULT_CONTROL_STRATEGY": ("_racehunt_bootstrap.py", r'control\.get\("strategy"\) or "(\w+)"'),
    "RACEHUNT_DEFAULT_CONTROL_DEPTH": ("_racehunt_bootstrap.py", r'control\.get\("depth"\) or (\d+)'),
    "RACEHUNT_DEFAULT_CONTROL_PCT_STEPS": ("_racehunt_bootstrap.py", r'control\.get\("pct_steps"\) or (\d+)'),
    "RACEHUNT_DEFAULT_CONTROL_MAX_STEPS": ("_racehunt_bootstrap.py", r'control\.get\("max_steps"\) or (\d+)'),
    "RACEHUNT_DEFAULT_CONTROL_STALL_S": ("_racehunt_bootstrap.py", r'control\.get\("stall"\) or ([\d.]+)'),
    "RACEHUNT_DEFAULT_YIELDS_GRANULARITY": ("_racehunt_bootstrap.py", r'yields\.get\("granularity"\) or "(\w+)"'),
    "RACEHUNT_STREAM_TAG_CONTROL": ("_racehunt_bootstrap.py", r"_derive\(_process_key, (0x[0-9A-Fa-f]+)\), str\(control"),
    "RACEHUNT_STREAM_TAG_LOOP": ("_racehunt_asyncio.py", r"_derive\(_b\._derive\(_b\._process_key, (0x[0-9A-Fa-f]+)\)"),
}


def as_value(text, like):
    if isinstance(like, str):
        return text
    return float(text) if "." in text else int(text, 0)


def test_config_defaults_and_stream_tags_are_protocol_h_s():
    src = sources()
    for macro, (module, pattern) in DEFAULTS.items():
        found = re.findall(pattern, src[module])
        assert found, "%s: %s no longer spells %s; re-point this test" % (macro, module, pattern)
        for text in found:
            assert as_value(text, H[macro]) == H[macro], (macro, module, text)


def test_log_limits_are_protocol_h_s():
    assert bootstrap._Yields.LOG_LIMIT == H["RACEHUNT_YIELDS_LOG_LIMIT"]
    assert control.Scheduler.LOG_LIMIT == H["RACEHUNT_CONTROL_LOG_LIMIT"]


def test_stream_constants_are_racehunt_hash_h_s():
    h = protocol_h.defines(protocol_h.HASH_H)
    assert bootstrap._GOLDEN == h["RACEHUNT_GOLDEN"]
    assert bootstrap._fnv1a64(b"") == h["RACEHUNT_FNV_OFFSET"]


COUNTER_FIELDS = ["magic", "version", "pid", "ppid", "process_key", "flags", "threads", "calls",
                  "yields", "delays", "delay_ns_total", "starvation_windows",
                  "starvation_ns_total", "exe", "decisions", "wake_yields", "start_ticks",
                  "images", "thread_slots_full", "tids"]


def test_the_e2e_counters_format_has_protocol_h_s_offsets():
    """tests/e2e/test_shim.py reads counters files with a struct format of its own."""
    text = (REPO / "tests" / "e2e" / "test_shim.py").read_text()
    fmt = re.search(r'COUNTERS_FORMAT = "([^"]+)"', text).group(1)
    items = re.findall(r"(\d*)([a-zA-Z])", fmt[1:])
    assert len(items) == len(COUNTER_FIELDS), items
    offset = 0
    for field, (count, code) in zip(COUNTER_FIELDS, items):
        assert offset == H["RACEHUNT_SHIM_COUNTERS_OFF_" + field.upper()], field
        offset += struct.calcsize("<" + count + code)
    assert offset == H["RACEHUNT_SHIM_COUNTERS_SIZE"]


def test_every_event_the_python_side_writes_is_named_by_protocol_h():
    events = {v for k, v in H.items() if k.startswith("RACEHUNT_EVENT_")}
    written = {}
    for name, text in sources().items():
        for event in re.findall(r'emit\("([a-z_]+)"', text) + re.findall(r'"event":"([a-z_]+)"', text):
            written.setdefault(event, set()).add(name)
    assert len(written) >= 10, written
    unknown = {e: sorted(f) for e, f in written.items() if e not in events}
    assert not unknown, "not in injectors/protocol.h (RACEHUNT_EVENT_*): %s" % unknown
    assert not events - set(written), "protocol.h names events nobody writes: %s" % (events - set(written))
