"""Process-wide state, one home for it. Module globals rather than an object, because the
hot paths read a few of them and global lookups are the cheapest there are.

Layers read and set these as `state.NAME`. A forked child is a new process of the run:
reset_for_child() gives it its own pid, events file, process key and thread bookkeeping;
what a layer keeps of its own it resets in an after-fork hook (hooks.py).
"""
import os
import sys
import time
import _thread

from . import protocol
from . import seeds

installed = False
fd = -1                     # O_APPEND descriptor of py-<pid>.jsonl
run_dir = None
pid = 0
role = "child"
config = {}
process_key = 0
fork_count = 0
main_ident = None
main_native_id = None
main_done_written = False
pending_warnings = []       # warnings raised during install(), written after `start`
warned = set()              # keys of once-only warnings
map_lock = _thread.allocate_lock()
thread_log_fd = None        # threads-<pid>.jsonl, opened at its first line
thread_log_lines = 0        # lines appended since the last snapshot
started_at = {}             # thread ident -> time.time() when the thread began
names_seen = {}             # native thread id -> Python name, every thread that began (capped)
threading_patched = False
thread_counter = None       # itertools.count of thread creation order (main thread is 0)
yields = None               # yields.Yields when Python yield points are active
control = None              # control.Scheduler in controlled mode
yields_mode = "off"
real_settrace = None        # sys.settrace before the settrace backend guarded it
dumping = False             # the dump-signal handler is running: no yields
dump_signal = None
fork_server_command = None  # set by the fork server in a run it forked
start_cwd = None
calm = False                # the harness asked the run to stop perturbing (see check_calm)
calm_after = None           # config.json's calm_after: no look for the calm file before
calm_next = 0.0             # monotonic time of the next look for the calm file

our_files = ()              # our own source files, hidden from check_failed stacks
our_dir = None              # the directory of the entry modules (injectors/python)
package_dir = None          # the directory of this package


CALM_CHECK = 0.02           # seconds between two looks for the calm file


def check_calm():
    """True once the harness has asked this run to stop perturbing: the run went past its
    timeout while busy, and racehunt gives it a grace period without perturbation to tell
    a run it slowed from a stuck one (docs/PROTOCOL.md, "Calm"). The harness says so with
    the file `calm` in the run directory; a perturbation that is due looks for it at most
    every CALM_CHECK seconds, and only once the run's timeout has passed (config.json's
    `calm_after`, seconds since the epoch): before it, the look is a clock read, with no
    system call that would release the GIL, so a run that ends in time makes the sync-point
    calls, and so the decisions, of its seed. Each layer's "calm" hook (hooks.py) then
    switches that layer off, once per process."""
    global calm, calm_next
    if calm:
        return True
    if calm_after is None or time.time() < calm_after:
        return False
    now = time.monotonic()
    if now < calm_next:
        return False
    calm_next = now + CALM_CHECK
    if run_dir is None or not os.path.exists(os.path.join(run_dir, protocol.CALM_FILE)):
        return False
    calm = True
    from . import hooks
    for hook in hooks.each("calm"):
        try:
            hook()
        except Exception:
            pass
    return True


def loaded(name):
    """The module `name` when the process has imported it, else None. racehunt never
    imports threading, asyncio or the workload's modules itself: it works with what is
    there. The one place that looks a module up by name."""
    return sys.modules.get(name)


def native_id():
    try:
        return _thread.get_native_id()
    except Exception:
        return None


def refresh_native_id():
    """After fork: threading (before 3.12) keeps the parent's native id on the thread that
    forked, which is the child's main thread, so dumps would name the parent's thread."""
    threading = loaded("threading")
    if threading is None:
        return
    try:
        thread = threading._active.get(_thread.get_ident())
        if thread is not None and hasattr(thread, "_set_native_id"):
            thread._set_native_id()
    except Exception:
        pass


def open_events(directory, process):
    return os.open(os.path.join(directory, protocol.EVENTS_FILE % process),
                   os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)


def reset_for_child():
    """In a child forked without exec: own files, role child, own decision streams."""
    global fd, pid, role, process_key, main_ident, main_native_id, map_lock
    global main_done_written, thread_counter, fork_count, thread_log_fd, thread_log_lines
    old_fd = fd
    if thread_log_fd is not None:
        try:
            os.close(thread_log_fd)
        except Exception:
            pass
    thread_log_fd = None
    thread_log_lines = 0
    fd = -1
    pid = os.getpid()
    role = "child"
    # The fork number counts the parent's forks from 0; the before-fork hook already
    # counted this one.
    process_key = seeds.derive(process_key, fork_count - 1)
    fork_count = 0
    map_lock = _thread.allocate_lock()
    main_ident = _thread.get_ident()
    main_native_id = native_id()
    refresh_native_id()
    main_done_written = False
    started_at.clear()
    started_at[main_ident] = round(time.time(), 6)
    names_seen.clear()
    import itertools
    thread_counter = itertools.count(1)
    try:
        os.close(old_fd)
    except Exception:
        pass
    fd = open_events(run_dir, pid)
