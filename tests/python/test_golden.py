"""The Python side of tests/golden/protocol_vectors.json: the bootstrap's hashing and
streams, the controlled scheduler's and the asyncio layer's draws, the fork server's
command-line hash and the bootstrap's reading of the counters file must give the values
the shim (C) and the harness (C++) are held to by the same file."""
import json
import os

import pytest

from _racehunt import aio, config, control, seeds, server, shim, state, yields

import protocol_h
from conftest import REPO

VECTORS = json.loads((REPO / "tests" / "golden" / "protocol_vectors.json").read_text("utf-8"))
STREAMS = VECTORS["streams"]
H = protocol_h.defines()


def hexes(values):
    return [int(v, 16) for v in values]


def nothing(*args, **kwargs):
    pass


@pytest.fixture
def process_key(monkeypatch):
    key = int(STREAMS["process_key"], 16)
    monkeypatch.setattr(state, "process_key", key)
    return key


def test_fnv1a64_of_labels():
    assert len(VECTORS["fnv1a64"]) >= 4
    for label, want in VECTORS["fnv1a64"]:
        assert seeds.fnv1a64(label.encode("utf-8")) == int(want, 16), label


def test_fmix64():
    for z, want in STREAMS["fmix64"]:
        assert seeds.fmix(int(z, 16)) == int(want, 16)


def test_command_line_hash_and_process_key():
    argv = STREAMS["command_line"]
    want = int(STREAMS["command_line_hash"], 16)
    # As /proc/self/cmdline holds it (what the bootstrap and the shim hash), and as the fork
    # server computes it for RACEHUNT_FORK_ARGV_HASH.
    assert seeds.fnv1a64(b"".join(os.fsencode(a) + b"\0" for a in argv)) == want
    assert server._fnv1a64(argv) == want
    seed = int(STREAMS["seed"], 16)
    key = seeds.fmix(seed ^ seeds.fmix(want))
    assert key == int(STREAMS["process_key"], 16)


def test_thread_streams(process_key):
    for index, want in enumerate(hexes(STREAMS["thread_keys"])):
        assert yields.Stream(index).key == want
    for index, draws in enumerate(STREAMS["draws"]):
        stream = yields.Stream(index)
        assert [seeds.draw(stream.key, n) for n in range(len(draws))] == hexes(draws)


def test_fork_keys(process_key):
    assert [seeds.derive(process_key, f) for f in range(2)] == hexes(STREAMS["fork_keys"])


def test_controlled_scheduler_stream(process_key):
    key = seeds.derive(process_key, H["RACEHUNT_STREAM_TAG_CONTROL"])
    assert key == int(STREAMS["control_key"], 16)
    # "random" draws nothing when it starts (pct draws its change points).
    s = control.Scheduler(key, "random", 3, 10000, 200000, 2.0, nothing, nothing)
    want = hexes(STREAMS["control_draws"])
    assert [s._rand(1 << 64) for _ in want] == want


def test_asyncio_loop_streams(process_key):
    for number, want in enumerate(hexes(STREAMS["loop_keys"])):
        assert aio._LoopState(number).key == want
    loop = aio._LoopState(0)  # no settings: it draws nothing when it starts
    want = hexes(STREAMS["loop_draws"])
    assert [loop.bits() for _ in want] == want


def image():
    counters = VECTORS["counters"]
    data = bytes.fromhex(counters["hex"])
    assert len(data) == counters["size"] == H["RACEHUNT_SHIM_COUNTERS_SIZE"]
    return data, counters["fields"]


def field(data, name, size, signed=False):
    offset = H["RACEHUNT_SHIM_COUNTERS_OFF_" + name.upper()]
    return int.from_bytes(data[offset:offset + size], "little", signed=signed)


def test_counters_image_decodes_at_protocol_h_s_offsets():
    data, fields = image()
    assert field(data, "magic", 4) == fields["magic"] == H["RACEHUNT_SHIM_MAGIC"]
    assert field(data, "version", 4) == fields["version"]
    assert field(data, "pid", 4, True) == fields["pid"]
    assert field(data, "ppid", 4, True) == fields["ppid"]
    assert field(data, "process_key", 8) == int(fields["process_key"], 16)
    assert field(data, "flags", 4) == fields["flags"]
    assert field(data, "threads", 4) == fields["threads"]
    for name in ("calls", "yields", "delays"):
        base = H["RACEHUNT_SHIM_COUNTERS_OFF_" + name.upper()]
        got = [int.from_bytes(data[base + 8 * i:base + 8 * i + 8], "little") for i in range(7)]
        assert got == fields[name], name
    for name in ("delay_ns_total", "starvation_windows", "starvation_ns_total", "decisions",
                 "wake_yields", "start_ticks"):
        assert field(data, name, 8) == fields[name], name
    assert field(data, "images", 4) == fields["images"]
    assert field(data, "thread_slots_full", 4) == fields["thread_slots_full"]
    exe = H["RACEHUNT_SHIM_COUNTERS_OFF_EXE"]
    assert data[exe:exe + H["RACEHUNT_SHIM_EXE_BYTES"]].split(b"\0")[0].decode() == fields["exe"]
    tids = H["RACEHUNT_SHIM_COUNTERS_OFF_TIDS"]
    got = [int.from_bytes(data[tids + 4 * i:tids + 4 * i + 4], "little", signed=True)
           for i in range(H["RACEHUNT_SHIM_TID_SLOTS"])]
    assert got == fields["tids"] + [0] * (len(got) - len(fields["tids"]))


def test_the_bootstrap_arms_the_golden_counters_file(tmp_path):
    data, fields = image()
    armed = H["RACEHUNT_SHIM_FLAG_ARMED"]
    flags_at = H["RACEHUNT_SHIM_COUNTERS_OFF_FLAGS"]
    disarmed = bytearray(data)
    disarmed[flags_at:flags_at + 4] = (fields["flags"] & ~armed).to_bytes(4, "little")
    pid = fields["pid"]
    path = tmp_path / ("%s%d%s" % (H["RACEHUNT_FILE_SHIM_PREFIX"], pid,
                                   H["RACEHUNT_FILE_SHIM_COUNTERS_SUFFIX"]))
    path.write_bytes(bytes(disarmed))
    # Another process's file is left alone.
    assert shim.arm_shim(str(tmp_path), pid + 1) is None  # no file for that pid
    path.rename(tmp_path / "kept")
    other = tmp_path / ("%s%d%s" % (H["RACEHUNT_FILE_SHIM_PREFIX"], pid + 1,
                                    H["RACEHUNT_FILE_SHIM_COUNTERS_SUFFIX"]))
    (tmp_path / "kept").rename(other)
    assert shim.arm_shim(str(tmp_path), pid + 1) is not None
    assert other.read_bytes() == bytes(disarmed)
    other.rename(path)
    # Its own file: the armed bit is set at the flags offset and nothing else changes.
    assert shim.arm_shim(str(tmp_path), pid) is None
    assert path.read_bytes() == data


def test_the_bootstrap_reads_the_golden_config_json(tmp_path):
    """The bootstrap's own JSON reader takes config.json, as the harness writes it, to the
    values any JSON reader sees (floats such as the switch interval included)."""
    cases = VECTORS["config"]["cases"]
    assert len(cases) >= 2
    for case in cases:
        text = json.dumps(case["config"], indent=2).replace("<scenario_dir>", str(tmp_path))
        (tmp_path / H["RACEHUNT_FILE_CONFIG"]).write_text(text + "\n")
        assert config.read(str(tmp_path)) == json.loads(text), case["name"]
