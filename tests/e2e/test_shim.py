"""End-to-end tests of the preload shim (injectors/shim/).

Each test runs a small real program (tests/shim/*.c, or Python code written inline) with
the built shim in LD_PRELOAD and checks what the program did and what the shim wrote
into its run directory. They use the build under test (racehunt_testlib.build_dir():
RACEHUNT_BUILD_DIR, else build/):
  <build>/libracehunt_shim.so
  <build>/tests/shim/<program>

Run:  RACEHUNT_BUILD_DIR=build /usr/bin/python3 -m pytest tests/e2e/test_shim.py
When a test fails, its message holds the run directory (kept by pytest's tmp_path) and
the exact command line to repeat it by hand.
"""

import os
import shlex
import struct
import subprocess
import sys

import pytest

from racehunt_testlib import DEBIAN_PYTHON, build_dir, pyenv_python

BUILD_DIR = str(build_dir())

SEED = "0123456789abcdef"
OTHER_SEED = "fedcba9876543210"
CLASSES = ["mutex", "cond", "sem", "sleep", "yield", "thread", "fork"]

FLAG_ENABLED = 0x1
FLAG_BAD_OPTION = 0x2
FLAG_PROTOCOL_BAD = 0x4
FLAG_ARMED = 0x8
MAGIC = 0x52484348

# struct racehunt_shim_counters (injectors/protocol.h), little-endian x86_64/aarch64.
COUNTERS_FORMAT = "<IIiiQII7Q7Q7QQQQ64sQQQII256i"
COUNTERS_SIZE = struct.calcsize(COUNTERS_FORMAT)
assert COUNTERS_SIZE == 320 + 256 * 4


def shim_path():
    path = os.path.join(BUILD_DIR, "libracehunt_shim.so")
    if not os.path.exists(path):
        pytest.skip(f"{path} is not built")
    return path


def program(name):
    path = os.path.join(BUILD_DIR, "tests", "shim", name)
    if not os.path.exists(path):
        pytest.skip(f"{path} is not built")
    return path


def shim_env(run_dir, options, protocol="1", extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RACEHUNT_")}
    env.pop("LD_PRELOAD", None)
    env["LD_PRELOAD"] = shim_path()
    env["RACEHUNT_RUN_DIR"] = str(run_dir)
    if protocol is not None:
        env["RACEHUNT_PROTOCOL"] = protocol
    if options is not None:
        env["RACEHUNT_SHIM"] = options
    env.update(extra or {})
    return env


def repro(argv, env):
    keys = ["LD_PRELOAD", "RACEHUNT_RUN_DIR", "RACEHUNT_PROTOCOL", "RACEHUNT_SHIM"]
    assigns = " ".join(f"{k}={shlex.quote(env[k])}" for k in keys if k in env)
    return f"{assigns} {shlex.join(argv)}"


def run(argv, run_dir, options, timeout=120, **kwargs):
    env = shim_env(run_dir, options, **kwargs)
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    proc.repro = f"run dir {run_dir}; repeat with: {repro(argv, env)}"
    return proc


def read_counters(path):
    with open(path, "rb") as f:
        data = f.read()
    assert len(data) == COUNTERS_SIZE, f"{path}: {len(data)} bytes"
    v = struct.unpack(COUNTERS_FORMAT, data)
    n = len(CLASSES)
    c = {
        "magic": v[0], "version": v[1], "pid": v[2], "ppid": v[3], "process_key": v[4],
        "flags": v[5], "threads": v[6],
        "calls": dict(zip(CLASSES, v[7:7 + n])),
        "yields": dict(zip(CLASSES, v[7 + n:7 + 2 * n])),
        "delays": dict(zip(CLASSES, v[7 + 2 * n:7 + 3 * n])),
    }
    rest = v[7 + 3 * n:]
    (c["delay_ns_total"], c["starvation_windows"], c["starvation_ns_total"], exe,
     c["decisions"], c["wake_yields"], c["start_ticks"], c["images"],
     c["thread_slots_full"]) = rest[:9]
    c["tids"] = list(rest[9:])
    c["exe"] = exe.split(b"\0", 1)[0].decode()
    c["injected"] = sum(c["yields"].values()) + sum(c["delays"].values())
    return c


def counters_by_pid(run_dir):
    out = {}
    for name in os.listdir(run_dir):
        if name.startswith("shim-") and name.endswith(".bin") and name[5:-4].isdigit():
            out[int(name[5:-4])] = read_counters(os.path.join(run_dir, name))
    return out


def only_counters(run_dir, proc):
    files = counters_by_pid(run_dir)
    assert len(files) == 1, f"expected one counters file, got {sorted(files)}; {proc.repro}"
    return next(iter(files.values()))


def read_log(path):
    """Returns [(header, [(thread, n, class, action, ns), ...]), ...], one per image."""
    images = []
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                images.append((line.strip(), []))
                continue
            t, n, cls, action, ns = line.split()
            images[-1][1].append((int(t), int(n), cls, action, int(ns)))
    return images


DLOG_HEADER = "<IIIIQiI"
DLOG_RECORD = "<IIBBHIQ"
ACTIONS = {1: "yield", 2: "delay", 3: "wake", 4: "starve"}


def read_dlog(path):
    """The binary decision log (injectors/protocol.h): (header fields, [(thread, n, class,
    action, ns), ...])."""
    with open(path, "rb") as f:
        data = f.read()
    magic, version, capacity, size, nxt, pid, _ = struct.unpack_from(DLOG_HEADER, data, 0)
    assert magic == 0x4C444852 and size == struct.calcsize(DLOG_RECORD) == 24, (magic, size)
    off = struct.calcsize(DLOG_HEADER)
    records = []
    for i in range(min(nxt, capacity)):
        t, n, point, action, image, ns, site = struct.unpack_from(DLOG_RECORD, data, off + i * size)
        assert site != 0, "a decision without its call site"
        records.append((t, n, CLASSES[point], ACTIONS[action], ns))
    return {"pid": pid, "next": nxt, "capacity": capacity}, records


def per_thread(records):
    threads = {}
    for t, n, cls, action, ns in sorted(records):
        threads.setdefault(t, []).append((n, cls, action, ns))
    return threads


# --- counting ---------------------------------------------------------------------------


def test_counters_file_appears_and_counts_calls_per_class(tmp_path):
    proc = run([program("shim_pattern"), "0", "96"], tmp_path, f"enabled=1:seed={SEED}:p=0")
    assert proc.returncode == 0, proc.repro
    c = only_counters(tmp_path, proc)
    assert c["magic"] == MAGIC and c["version"] == 1
    assert c["exe"] == "shim_pattern"
    assert c["flags"] & FLAG_ENABLED and c["flags"] & FLAG_ARMED
    assert not c["flags"] & (FLAG_BAD_OPTION | FLAG_PROTOCOL_BAD)
    # Per iteration: lock, unlock, trylock, unlock / cond_signal / sem_post, sem_wait;
    # sched_yield every 8th, nanosleep every 16th iteration.
    assert c["calls"]["mutex"] == 4 * 96, proc.repro
    assert c["calls"]["cond"] == 96
    assert c["calls"]["sem"] == 2 * 96
    assert c["calls"]["yield"] == 12
    assert c["calls"]["sleep"] == 6
    assert c["injected"] == 0 and c["delay_ns_total"] == 0
    assert c["images"] == 1 and c["pid"] == int(c["pid"])


def test_p1_injects_a_yield_or_delay_at_every_sync_point(tmp_path):
    proc = run([program("shim_pattern"), "0", "64"], tmp_path,
               f"seed={SEED}:p=1:delay_share=0.5:max_delay_ns=5000")
    assert proc.returncode == 0, proc.repro
    c = only_counters(tmp_path, proc)
    for cls in ("mutex", "cond", "sem", "yield", "sleep"):
        assert c["yields"][cls] + c["delays"][cls] == c["calls"][cls], (cls, proc.repro)
    assert sum(c["yields"].values()) > 0 and sum(c["delays"].values()) > 0
    assert c["decisions"] == sum(c["calls"].values())
    assert 0 < c["delay_ns_total"] <= 5000 * sum(c["delays"].values())


def test_class_override_limits_injection_to_that_class(tmp_path):
    proc = run([program("shim_pattern"), "0", "64"], tmp_path, f"seed={SEED}:p=0:p_sem=1")
    assert proc.returncode == 0, proc.repro
    c = only_counters(tmp_path, proc)
    assert c["yields"]["sem"] + c["delays"]["sem"] == c["calls"]["sem"] > 0
    assert c["injected"] == c["calls"]["sem"]


def test_wake_yields_follow_waking_calls_only(tmp_path):
    proc = run([program("shim_pattern"), "0", "64"], tmp_path, f"seed={SEED}:p=0:wake_p=1")
    assert proc.returncode == 0, proc.repro
    c = only_counters(tmp_path, proc)
    # Waking calls per iteration: 2 mutex unlocks, 1 cond_signal, 1 sem_post.
    assert c["wake_yields"] == 4 * 64
    assert c["yields"]["mutex"] == 2 * 64 and c["yields"]["cond"] == 64
    assert c["yields"]["sem"] == 64 and c["delays"] == dict.fromkeys(CLASSES, 0)


def test_arm0_counts_calls_but_injects_nothing_until_armed(tmp_path):
    argv = [program("shim_pattern"), "0", "50", "arm-wait"]
    env = shim_env(tmp_path, f"seed={SEED}:p=1:arm=0")
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "phase1"
        before = counters_by_pid(tmp_path)[proc.pid]
        assert before["calls"]["mutex"] == 200
        assert before["injected"] == 0 and before["decisions"] == 0
        assert not before["flags"] & FLAG_ARMED
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        proc.wait()
    after = counters_by_pid(tmp_path)[proc.pid]
    assert after["flags"] & FLAG_ARMED
    assert after["calls"]["mutex"] == 400
    # Only the second pattern run (after racehunt_shim_arm(1)) was perturbed.
    assert after["injected"] == after["decisions"] == sum(after["calls"].values()) - sum(
        before["calls"].values())


def test_disabled_or_absent_shim_writes_nothing(tmp_path):
    for options in ("enabled=0:p=1", None):
        proc = run([program("shim_pattern"), "1", "20"], tmp_path, options)
        assert proc.returncode == 0 and proc.stdout == "done\n", proc.repro
    assert os.listdir(tmp_path) == []


def test_unknown_option_sets_bad_option_flag_and_is_not_fatal(tmp_path):
    proc = run([program("shim_pattern"), "0", "10"], tmp_path, "enabled=1:p=0:bogus=3:p_mutex=2")
    assert proc.returncode == 0, proc.repro
    c = only_counters(tmp_path, proc)
    assert c["flags"] & FLAG_BAD_OPTION and c["flags"] & FLAG_ENABLED
    assert c["injected"] == 0


def test_protocol_mismatch_disables_injection_and_is_recorded(tmp_path):
    proc = run([program("shim_pattern"), "0", "10"], tmp_path, f"seed={SEED}:p=1", protocol="2")
    assert proc.returncode == 0, proc.repro
    c = only_counters(tmp_path, proc)
    assert c["flags"] & FLAG_PROTOCOL_BAD and not c["flags"] & FLAG_ENABLED
    assert sum(c["calls"].values()) == 0 and c["injected"] == 0


# --- determinism ------------------------------------------------------------------------


def decision_log(tmp_path, seed):
    tmp_path.mkdir()
    proc = run([program("shim_pattern"), "3", "200"], tmp_path,
               f"seed={seed}:p=0.3:wake_p=0.3:max_delay_ns=2000:log=1")
    assert proc.returncode == 0, proc.repro
    logs = [n for n in os.listdir(tmp_path) if n.endswith(".log")]
    assert len(logs) == 1, (logs, proc.repro)
    images = read_log(os.path.join(tmp_path, logs[0]))
    assert len(images) == 1
    header, records = images[0]
    c = only_counters(tmp_path, proc)
    assert len(records) == c["injected"] > 0
    return header.split(" key=")[1].split()[0], per_thread(records)


def test_binary_decision_log_holds_exactly_the_text_log(tmp_path):
    proc = run([program("shim_pattern"), "3", "200"], tmp_path,
               f"seed={SEED}:p=0.3:wake_p=0.3:max_delay_ns=2000:log=1")
    assert proc.returncode == 0, proc.repro
    (header, text), = read_log(os.path.join(tmp_path, f"shim-{proc_pid_of(tmp_path)}.log"))
    info, binary = read_dlog(os.path.join(tmp_path, f"shim-{proc_pid_of(tmp_path)}.dlog"))
    assert info["next"] == len(binary) == len(text) > 0
    assert sorted(binary) == sorted(text)
    c = only_counters(tmp_path, proc)
    assert len(binary) == c["injected"] + c["starvation_windows"]


def test_decision_log_is_off_with_dlog0_and_separate_per_forked_child(tmp_path):
    off = tmp_path / "off"
    off.mkdir()
    proc = run([program("shim_pattern"), "1", "50"], off, f"seed={SEED}:p=1:dlog=0")
    assert proc.returncode == 0, proc.repro
    assert not [n for n in os.listdir(off) if n.endswith(".dlog")]
    forked = tmp_path / "forked"
    forked.mkdir()
    proc = run([program("shim_forker")], forked, f"seed={SEED}:p=1")
    assert proc.returncode == 0, proc.repro
    logs = {n: read_dlog(os.path.join(forked, n)) for n in os.listdir(forked) if n.endswith(".dlog")}
    assert len(logs) >= 2, logs.keys()
    for name, (info, records) in logs.items():
        assert name == "shim-%d.dlog" % info["pid"]
        assert records, name


def proc_pid_of(run_dir):
    pids = [int(n[5:-4]) for n in os.listdir(run_dir)
            if n.startswith("shim-") and n.endswith(".bin") and n[5:-4].isdigit()]
    assert len(pids) == 1, pids
    return pids[0]


def test_same_seed_gives_the_same_decisions_per_thread(tmp_path):
    key1, first = decision_log(tmp_path / "a", SEED)
    key2, second = decision_log(tmp_path / "b", SEED)
    _, other = decision_log(tmp_path / "c", OTHER_SEED)
    assert key1 == key2
    assert sorted(first) == [0, 1, 2, 3]
    assert first == second
    assert first != other
    # Threads of one process draw from different streams.
    assert first[1] != first[2]


# --- processes --------------------------------------------------------------------------


def test_forked_child_gets_its_own_counters_file(tmp_path):
    proc = run([program("shim_forker"), "2"], tmp_path, f"seed={SEED}:p=0")
    assert proc.returncode == 0, proc.repro
    children = [int(line.split()[1]) for line in proc.stdout.splitlines()
                if line.startswith("child ")]
    parent_pid = int(proc.stdout.split("parent ")[1].split()[0])
    files = counters_by_pid(tmp_path)
    assert len(children) == 3  # two children, and the first child's child
    assert set(files) == {parent_pid, *children}, proc.repro
    parent = files[parent_pid]
    # The parent ran its work twice and forked twice; nothing a child did leaked into it.
    assert parent["calls"]["mutex"] == 200 and parent["calls"]["fork"] == 2
    keys = {parent["process_key"]}
    for pid in children:
        c = files[pid]
        assert c["magic"] == MAGIC and c["pid"] == pid
        assert c["calls"]["mutex"] == 100
        keys.add(c["process_key"])
    # Two children of the parent, and one grandchild (the output order of the "child"
    # lines races, so the tree is read from the files).
    ppids = sorted(files[pid]["ppid"] for pid in children)
    assert ppids.count(parent_pid) == 2, proc.repro
    grandparent_of = [p for p in ppids if p != parent_pid]
    assert grandparent_of and grandparent_of[0] in children
    assert files[grandparent_of[0]]["calls"]["fork"] == 1
    assert len(keys) == 4, "every process has its own key"
    # Child keys derive from the parent's key and its fork number: stable for a seed.
    again = tmp_path / "again"
    again.mkdir()
    proc2 = run([program("shim_forker"), "2"], again, f"seed={SEED}:p=0")
    assert proc2.returncode == 0
    assert sorted(c["process_key"] for c in counters_by_pid(again).values()) == sorted(keys)


def test_exec_keeps_the_process_counters_file(tmp_path):
    target = program("shim_pattern")
    proc = run(["/bin/sh", "-c", f"exec {shlex.quote(target)} 0 10"], tmp_path, f"seed={SEED}")
    assert proc.returncode == 0, proc.repro
    c = only_counters(tmp_path, proc)
    assert c["images"] == 2 and c["exe"] == "shim_pattern"
    assert c["calls"]["mutex"] == 40


def test_sh_c_true_exits_0_unchanged(tmp_path):
    for options in (f"seed={SEED}:p=1:wake_p=1", "enabled=0"):
        proc = run(["/bin/sh", "-c", "true"], tmp_path, options)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", ""), proc.repro
        proc = run(["/bin/sh", "-c", "exit 3"], tmp_path, options)
        assert proc.returncode == 3, proc.repro


# --- meaning is preserved ---------------------------------------------------------------


def test_locked_counter_is_right_under_p1_delays(tmp_path):
    proc = run([program("shim_counter"), "4", "2000"], tmp_path,
               f"seed={SEED}:p=1:delay_share=1:max_delay_ns=3000:wake_p=0.5")
    assert proc.returncode == 0, proc.stdout + proc.repro
    assert proc.stdout.strip() == "mutex 8000 sem 8000 want 8000"
    c = only_counters(tmp_path, proc)
    assert c["delays"]["mutex"] > 0 and c["delays"]["sem"] > 0
    assert c["calls"]["thread"] == 4 and c["threads"] == 5


def test_mutex_cond_pingpong_completes_under_p1(tmp_path):
    proc = run([program("shim_pingpong"), "2000"], tmp_path,
               f"seed={SEED}:p=1:max_delay_ns=5000:wake_p=0.5")
    assert proc.returncode == 0 and proc.stdout == "moves 4000\n", proc.repro
    c = only_counters(tmp_path, proc)
    assert c["calls"]["cond"] > 0 and c["yields"]["cond"] + c["delays"]["cond"] > 0


def test_sleeps_are_never_shortened_and_fd_polls_are_not_sync_points(tmp_path):
    proc = run([program("shim_sleeper")], tmp_path, f"seed={SEED}:p=1:delay_share=1")
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stdout + proc.repro
    c = only_counters(tmp_path, proc)
    # nanosleep, 2x clock_nanosleep, usleep, sleep, select and poll without descriptors.
    assert c["calls"]["sleep"] == 7 and c["calls"]["yield"] == 1
    assert c["delays"]["sleep"] == 7


def test_signals_to_threads_blocked_in_hooks_keep_eintr_semantics(tmp_path):
    proc = run([program("shim_signals"), "1500"], tmp_path,
               f"seed={SEED}:p=0.5:wake_p=0.3:max_delay_ns=20000")
    assert proc.returncode == 0, proc.stdout + proc.stderr + proc.repro
    fields = dict(zip(proc.stdout.split()[::2], map(int, proc.stdout.split()[1::2])))
    assert fields["bad"] == 0 and fields["eintr_sem"] > 0 and fields["eintr_sleep"] > 0
    c = only_counters(tmp_path, proc)
    assert c["calls"]["sem"] > 0 and c["injected"] > 0


def test_starvation_windows_are_opened_and_capped(tmp_path):
    proc = run([program("shim_pingpong"), "3000"], tmp_path,
               f"seed={SEED}:p=0:starve=1:starve_p=0.05:starve_max_ns=2000000:starve_share=0.3")
    assert proc.returncode == 0 and proc.stdout == "moves 6000\n", proc.repro
    c = only_counters(tmp_path, proc)
    assert c["starvation_windows"] > 0
    assert 1000000 * c["starvation_windows"] <= c["starvation_ns_total"]
    assert c["starvation_ns_total"] <= 2000000 * c["starvation_windows"]


# --- Python under the shim --------------------------------------------------------------

PYTHON_PROGRAM = r"""
import queue, threading, time

lock = threading.Lock()
cond = threading.Condition()
total = 0
items = queue.Queue(maxsize=4)
done = threading.Event()
ready = []

def add():
    global total
    for _ in range(2000):
        with lock:
            total += 1
    with cond:
        ready.append(1)
        cond.notify_all()

def produce():
    for i in range(500):
        items.put(i)
    items.put(None)

consumed = []
def consume():
    while (x := items.get()) is not None:
        consumed.append(x)
        if x % 100 == 0:
            time.sleep(0.0005)
    done.set()

threads = [threading.Thread(target=add) for _ in range(4)]
threads += [threading.Thread(target=produce), threading.Thread(target=consume)]
for t in threads:
    t.start()
with cond:
    cond.wait_for(lambda: len(ready) == 4, timeout=60)
done.wait(60)
for t in threads:
    t.join()
print(total, len(consumed), sum(consumed))
"""


def pythons():
    """Debian's python3.11 and pyenv's 3.13 (its name, which no file has, when it is missing)."""
    return [DEBIAN_PYTHON, pyenv_python("3.13") or "pyenv-3.13"]


@pytest.mark.parametrize("python", pythons())
def test_python_threaded_program_is_correct_under_p02(tmp_path, python):
    if not os.path.exists(python):
        pytest.skip(f"{python} is not installed")
    proc = run([python, "-c", PYTHON_PROGRAM], tmp_path,
               f"seed={SEED}:p=0.2:max_delay_ns=50000:wake_p=0.1")
    assert proc.returncode == 0, proc.stderr + proc.repro
    assert proc.stdout.split() == ["8000", "500", str(sum(range(500)))]
    c = only_counters(tmp_path, proc)
    assert c["calls"]["thread"] == 6
    assert c["calls"]["mutex"] + c["calls"]["cond"] + c["calls"]["sem"] > 1000
    assert c["injected"] > 0


@pytest.mark.parametrize("python", pythons())
def test_python_arms_the_shim_through_ctypes(tmp_path, python):
    if not os.path.exists(python):
        pytest.skip(f"{python} is not installed")
    code = (
        "import ctypes, threading\n"
        "lib = ctypes.CDLL(None)\n"
        "assert lib.racehunt_shim_active() == 1\n"
        "lib.racehunt_shim_arm(1)\n"
        "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
        "print('armed')\n"
    )
    proc = run([python, "-c", code], tmp_path, f"seed={SEED}:p=1:arm=0")
    assert proc.returncode == 0 and proc.stdout == "armed\n", proc.stderr + proc.repro
    c = only_counters(tmp_path, proc)
    assert c["flags"] & FLAG_ARMED and c["injected"] > 0
    # Everything before the call (interpreter start-up) was counted, not perturbed.
    assert c["decisions"] < sum(c["calls"].values())



def test_arm_python_leaves_other_programs_armed(tmp_path):
    # A native program under arm_python=1 is armed from load and perturbed as usual.
    proc = run([program("shim_pattern"), "0", "50"], tmp_path, f"seed={SEED}:p=1:arm_python=1")
    assert proc.returncode == 0, proc.stderr + proc.repro
    c = only_counters(tmp_path, proc)
    assert c["flags"] & FLAG_ARMED and c["injected"] > 0, c


ARM_THROUGH_FILE = """
import os, sys, threading
def counters():
    with open(os.path.join(os.environ["RACEHUNT_RUN_DIR"], "shim-%d.bin" % os.getpid()), "rb") as f:
        return f.read()
def flags():
    return int.from_bytes(counters()[24:28], "little")
def injected():
    data = counters()
    # yields[7] at offset 88, delays[7] at 144 (struct racehunt_shim_counters)
    return sum(int.from_bytes(data[o:o + 8], "little") for o in range(88, 200, 8))
def spin():
    t = threading.Thread(target=lambda: None); t.start(); t.join()
spin()
print(flags() & 8, injected())
# What the bootstrap does: set the armed bit in the mapped counters file.
fd = os.open(os.path.join(os.environ["RACEHUNT_RUN_DIR"], "shim-%d.bin" % os.getpid()), os.O_RDWR)
os.pwrite(fd, (flags() | 8).to_bytes(4, "little"), 24)
os.close(fd)
spin()
print(flags() & 8, injected() > 0)
pid = os.fork()
if pid == 0:
    spin()
    os._exit(0)
os.waitpid(pid, 0)
"""


@pytest.mark.parametrize("python", pythons())
def test_arm_python_starts_python_disarmed_and_the_counters_file_arms_it(tmp_path, python):
    if not os.path.exists(python):
        pytest.skip(f"{python} is not installed")
    proc = run([python, "-c", ARM_THROUGH_FILE], tmp_path, f"seed={SEED}:p=1:arm_python=1")
    assert proc.returncode == 0, proc.stderr + proc.repro
    # Start-up and a thread were counted but not perturbed; once the bit is set they are.
    assert proc.stdout.split() == ["0", "0", "8", "True"], proc.stdout + proc.repro
    files = counters_by_pid(tmp_path)
    assert len(files) == 2, files
    parent = files[proc_pid(files, python)]
    child = next(c for pid, c in files.items() if c["ppid"] == parent["pid"])
    # The forked child is armed as its parent was, and perturbed.
    assert child["flags"] & FLAG_ARMED and child["injected"] > 0, child


def proc_pid(files, python):
    """The pid of the process whose parent is not in the run (the one the test started)."""
    pids = set(files)
    return next(pid for pid, c in files.items() if c["ppid"] not in pids)

if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))


FLAG_PINS_BAD = 0x10
PINS_MAGIC = 0x4E495052


def log_by_thread(run_dir, proc):
    """(process key, {thread: [(n, class, action, ns), ...]}) of the one text log."""
    logs = [n for n in os.listdir(run_dir) if n.endswith(".log")]
    assert len(logs) == 1, (logs, proc.repro)
    (header, records), = read_log(os.path.join(run_dir, logs[0]))
    return header.split(" key=")[1].split()[0], per_thread(records)


def write_pins(path, records):
    """shim-pins.bin: header, then (process key, thread, n) sorted."""
    records = sorted(records)
    data = struct.pack("<IIII", PINS_MAGIC, 1, len(records), 16)
    for key, thread, n in records:
        data += struct.pack("<QII", key, thread, n)
    path.write_bytes(data)


def test_pins_perturb_only_the_pinned_decisions(tmp_path):
    # First an unpinned run with p=1 (every decision perturbs) to learn the process key.
    free = tmp_path / "free"
    free.mkdir()
    proc = run([program("shim_pattern"), "2", "30"], free, f"seed={SEED}:p=1:max_delay_ns=1000:log=1")
    assert proc.returncode == 0, proc.repro
    key, threads = log_by_thread(free, proc)
    assert len(threads) == 3 and all(len(d) > 20 for d in threads.values()), proc.repro
    # Pin five decisions: three of the main thread, two of worker 2, one past the end.
    pinned = [(0, 0), (0, 7), (0, 19), (2, 4), (2, 5), (1, 10 ** 6)]
    pinned_dir = tmp_path / "pinned"
    pinned_dir.mkdir()
    write_pins(pinned_dir / "shim-pins.bin", [(int(key, 16), t, n) for t, n in pinned])
    proc = run([program("shim_pattern"), "2", "30"], pinned_dir,
               f"seed={SEED}:p=1:max_delay_ns=1000:log=1:pins=1")
    assert proc.returncode == 0, proc.repro
    _, got = log_by_thread(pinned_dir, proc)
    assert {t: [n for n, *_ in d] for t, d in got.items()} == {0: [0, 7, 19], 2: [4, 5]}, (got, proc.repro)
    c = only_counters(pinned_dir, proc)
    assert c["injected"] == 5 and not c["flags"] & FLAG_PINS_BAD
    # Every decision is still drawn, so the decision count equals the unpinned run's.
    assert c["decisions"] == only_counters(free, proc)["decisions"]
    # The pinned perturbations are the unpinned run's own: same class and action.
    for t, d in got.items():
        assert d == [x for x in threads[t] if x[0] in {n for tt, n in pinned if tt == t}]


def test_a_missing_pins_file_pins_nothing_and_says_so(tmp_path):
    proc = run([program("shim_pattern"), "1", "20"], tmp_path, f"seed={SEED}:p=1:pins=1")
    assert proc.returncode == 0, proc.repro
    c = only_counters(tmp_path, proc)
    assert c["injected"] == 0 and c["flags"] & FLAG_PINS_BAD, c


def test_counters_name_each_thread_index_by_its_kernel_id(tmp_path):
    proc = run([program("shim_pattern"), "3", "5"], tmp_path, f"seed={SEED}:p=0")
    assert proc.returncode == 0, proc.repro
    c = only_counters(tmp_path, proc)
    assert c["tids"][0] == c["pid"]            # the main thread's tid is the pid
    workers = c["tids"][1:4]
    assert all(t > 0 for t in workers) and len(set(workers)) == 3 and c["pid"] not in workers
    assert c["tids"][4:] == [0] * (256 - 4)


# --- python_only: dormant outside Python ---------------------------------------------------


def test_python_only_keeps_a_native_program_dormant_and_unchanged(tmp_path):
    proc = run([program("shim_pattern"), "1", "20"], tmp_path, f"seed={SEED}:p=1:wake_p=1:python_only=1")
    assert proc.returncode == 0 and proc.stdout == "done\n", proc.repro
    # Dormant: no counters file, no decision log, nothing at all.
    assert os.listdir(tmp_path) == [], (os.listdir(tmp_path), proc.repro)


@pytest.mark.parametrize("python", pythons())
def test_python_only_is_active_in_python_whether_libpython_is_linked_in_or_shared(tmp_path, python):
    # Debian's python3.11 has libpython linked in (and exports its C API); pyenv's builds
    # load libpython3.x.so.
    if not os.path.exists(python):
        pytest.skip(f"{python} is not installed")
    proc = run([python, "-c", "pass"], tmp_path, f"seed={SEED}:p=0.5:python_only=1")
    assert proc.returncode == 0, proc.stderr + proc.repro
    c = only_counters(tmp_path, proc)
    assert c["flags"] & FLAG_ENABLED and c["exe"].startswith("python"), c


def test_python_only_shell_that_execs_python_takes_part_once_it_is_python(tmp_path):
    # The shell and /bin/true stay dormant; the same process, once it has exec'd Python,
    # loads the shim afresh and takes part, as its only image.
    python = pythons()[0]
    if not os.path.exists(python):
        pytest.skip(f"{python} is not installed")
    code = "import os; print(os.getpid())"
    proc = run(["/bin/sh", "-c", f"/bin/true; echo $$; exec {python} -c {shlex.quote(code)}"], tmp_path,
               f"seed={SEED}:p=1:python_only=1")
    assert proc.returncode == 0, proc.stderr + proc.repro
    shell_pid, python_pid = (int(x) for x in proc.stdout.split())
    files = counters_by_pid(tmp_path)
    assert list(files) == [python_pid] == [shell_pid], (files, proc.repro)
    c = files[python_pid]
    assert c["images"] == 1 and c["exe"].startswith("python"), c
    names = os.listdir(tmp_path)
    assert f"shim-{python_pid}.dlog" in names, (names, proc.repro)
    assert all(n.startswith(f"shim-{python_pid}.") for n in names), (names, proc.repro)
