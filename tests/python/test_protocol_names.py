"""The Python injectors spell protocol.h's names, file names, layout and defaults as
protocol.h defines them.

Python cannot include a C header; this test parses injectors/protocol.h and reads the
Python sources (or imports their modules), as injectors/shim/gen_options_doc.py --check
holds docs/SHIM_OPTIONS.md to options.def. tests/e2e/test_protocol.py does the same for
the environment names, and holds the C and C++ sources to the macros.
"""
import re
import struct

from _racehunt import config, control, protocol, seeds, yields

import protocol_h
from conftest import INJECTORS, REPO

H = protocol_h.defines()


def sources():
    """{path relative to injectors/python: text} of every Python injector."""
    return {str(p.relative_to(INJECTORS)): p.read_text() for p in sorted(INJECTORS.rglob("*.py"))}


def test_protocol_h_parses():
    assert H["RACEHUNT_PROTOCOL_VERSION"] == 1
    assert H["RACEHUNT_FILE_CONFIG"] == "config.json"
    assert len(protocol_h.run_files()) >= 10


def test_version_magic_flags_and_counters_head():
    assert protocol.PROTOCOL_VERSION == H["RACEHUNT_PROTOCOL_VERSION"]
    assert protocol.SHIM_MAGIC == H["RACEHUNT_SHIM_MAGIC"]
    assert protocol.SHIM_FLAG_ARMED == H["RACEHUNT_SHIM_FLAG_ARMED"]
    assert protocol.SHIM_MAGIC_OFFSET == H["RACEHUNT_SHIM_COUNTERS_OFF_MAGIC"]
    assert protocol.SHIM_PID_OFFSET == H["RACEHUNT_SHIM_COUNTERS_OFF_PID"]
    assert protocol.SHIM_FLAGS_OFFSET == H["RACEHUNT_SHIM_COUNTERS_OFF_FLAGS"]
    # The head the bootstrap reads ends with the flags word.
    assert protocol.SHIM_HEAD_SIZE == H["RACEHUNT_SHIM_COUNTERS_OFF_FLAGS"] + 4


def test_environment_names_are_protocol_h_s():
    named = {k[len("ENV_"):]: v for k, v in vars(protocol).items() if k.startswith("ENV_")}
    assert len(named) >= 8
    for key, value in named.items():
        assert H["RACEHUNT_ENV_" + key] == value, key


# protocol.py's name of each per-process file, by protocol.h's key.
PROTOCOL_PY_FILES = {
    "EVENTS": "EVENTS_FILE", "THREADS": "THREADS_FILE", "FAULTHANDLER": "FAULTHANDLER_FILE",
    "PYSTACKS": "PYSTACKS_FILE", "DUMPED": "DUMPED_FILE", "YIELDS": "YIELDS_LOG",
    "TRACE": "TRACE_LOG", "CONTROL": "CONTROL_LOG", "LOOP": "LOOP_LOG",
    "SHIM_COUNTERS": "SHIM_COUNTERS_FILE",
}


def test_every_per_process_file_of_protocol_py_is_protocol_h_s():
    files = protocol_h.run_files()
    for key, attr in PROTOCOL_PY_FILES.items():
        prefix, suffix = files[key]
        assert getattr(protocol, attr) == prefix + "%d" + suffix, key
    assert protocol.CONFIG_FILE == H["RACEHUNT_FILE_CONFIG"]
    assert protocol.CALM_FILE == H["RACEHUNT_FILE_CALM"]
    spelled = {v for k, v in vars(protocol).items() if isinstance(v, str) and "%d" in v}
    assert spelled == {getattr(protocol, a) for a in PROTOCOL_PY_FILES.values()}


def test_no_other_module_spells_a_run_file_name():
    """A file name is spelled once, in protocol.py; the entry module that reports a failed
    start before the package loads is the one exception, and must agree with it."""
    spelled = {(name, m) for name, text in sources().items()
               for m in re.findall(r'"([a-z]+-%d(?:\.[a-z]+)?)"', text)}
    assert ("_racehunt/protocol.py", protocol.EVENTS_FILE) in spelled
    others = sorted((n, m) for n, m in spelled if n != "_racehunt/protocol.py")
    assert others == [("_racehunt_site.py", protocol.EVENTS_FILE)], others


# Where each default lives on the Python side.
DEFAULTS = {
    "RACEHUNT_DEFAULT_CONTROL_STRATEGY": config.CONTROL_STRATEGY,
    "RACEHUNT_DEFAULT_CONTROL_DEPTH": config.CONTROL_DEPTH,
    "RACEHUNT_DEFAULT_CONTROL_PCT_STEPS": config.CONTROL_PCT_STEPS,
    "RACEHUNT_DEFAULT_CONTROL_MAX_STEPS": config.CONTROL_MAX_STEPS,
    "RACEHUNT_DEFAULT_CONTROL_STALL_S": config.CONTROL_STALL,
    "RACEHUNT_STREAM_TAG_CONTROL": protocol.STREAM_TAG_CONTROL,
    "RACEHUNT_STREAM_TAG_LOOP": protocol.STREAM_TAG_LOOP,
    "RACEHUNT_STREAM_TAG_SITES": protocol.STREAM_TAG_SITES,
}


def test_config_defaults_and_stream_tags_are_protocol_h_s():
    for macro, value in DEFAULTS.items():
        assert value == H[macro], macro
    assert config.Control({}).strategy == H["RACEHUNT_DEFAULT_CONTROL_STRATEGY"]
    assert config.Control({}).max_steps == H["RACEHUNT_DEFAULT_CONTROL_MAX_STEPS"]
    assert config.Yields({}, print).granularity == H["RACEHUNT_DEFAULT_YIELDS_GRANULARITY"]


def test_stream_tags_are_used_not_retyped():
    for name, text in sources().items():
        for tag in ("0xC0", "0xA5"):
            assert tag.lower() not in text.lower() or name == "_racehunt/protocol.py", (name, tag)


def test_log_limits_are_protocol_h_s():
    assert yields.Yields.LOG_LIMIT == H["RACEHUNT_YIELDS_LOG_LIMIT"]
    assert control.Scheduler.LOG_LIMIT == H["RACEHUNT_CONTROL_LOG_LIMIT"]


def test_stream_constants_are_racehunt_hash_h_s():
    h = protocol_h.defines(protocol_h.HASH_H)
    assert seeds.GOLDEN == h["RACEHUNT_GOLDEN"]
    assert seeds.fnv1a64(b"") == h["RACEHUNT_FNV_OFFSET"]


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
