"""The names the Python injectors share with the harness: the Python half of
injectors/protocol.h (tests/python/test_protocol_names.py and tests/e2e/test_protocol.py
hold the two together)."""

PROTOCOL_VERSION = 1

# Environment (protocol.h, RACEHUNT_ENV_*).
ENV_PROTOCOL = "RACEHUNT_PROTOCOL"
ENV_RUN_DIR = "RACEHUNT_RUN_DIR"
ENV_RUN_SEED = "RACEHUNT_RUN_SEED"
ENV_ROLE = "RACEHUNT_ROLE"
ENV_SHIM = "RACEHUNT_SHIM"
ENV_DUMP_SIGNAL = "RACEHUNT_DUMP_SIGNAL"
ENV_FORK_SERVER = "RACEHUNT_FORK_SERVER"
ENV_FORK_ARGV_HASH = "RACEHUNT_FORK_ARGV_HASH"

# Files in the run directory; %d is the process id.
CONFIG_FILE = "config.json"
CALM_FILE = "calm"
EVENTS_FILE = "py-%d.jsonl"
THREADS_FILE = "threads-%d.jsonl"
FAULTHANDLER_FILE = "faulthandler-%d.txt"
PYSTACKS_FILE = "pystacks-%d.json"
DUMPED_FILE = "dumped-%d"
YIELDS_LOG = "yields-%d.log"
TRACE_LOG = "trace-%d.log"
CONTROL_LOG = "control-%d.log"
LOOP_LOG = "loop-%d.log"
SHIM_COUNTERS_FILE = "shim-%d.bin"

# The preload shim's counters file (struct racehunt_shim_counters): magic at offset 0, pid
# at 8, flags at 24, all little-endian on the platforms racehunt supports.
SHIM_MAGIC = 0x52484348
SHIM_MAGIC_OFFSET = 0
SHIM_PID_OFFSET = 8
SHIM_FLAGS_OFFSET = 24
SHIM_HEAD_SIZE = 28
SHIM_FLAG_ARMED = 0x8
SHIM_OPTION_ARM_PYTHON = "arm_python=1"

# Tags that split a process's key into the streams of its layers (RACEHUNT_STREAM_TAG_*).
STREAM_TAG_CONTROL = 0xC0
STREAM_TAG_LOOP = 0xA5
STREAM_TAG_SITES = 0x51
