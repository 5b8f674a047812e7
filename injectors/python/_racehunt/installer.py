"""install(): racehunt's set-up in a Python process, the one module that knows every layer.

It reads config.json, sets the process state (state.py), imports the layers the run
switches on and registers their hooks (hooks.py) in the order their files and events
come out, and arms the import watcher for threading and asyncio. sitecustomize.py (through
_racehunt_site.py) and the fork server call it. Python 3.8 syntax only.
"""
import os
import sys
import time
import _thread

from . import config as _config
from . import events
from . import exits
from . import faults
from . import hooks
from . import protocol
from . import seeds
from . import state
from . import threads

PROTOCOL_VERSION = protocol.PROTOCOL_VERSION

# Every source file of racehunt's own, relative to the directory of the entry modules:
# hidden from the stacks of check_failed and never in focus.
_ENTRY_FILES = ("racehunt.py", "_racehunt_server.py")
_PACKAGE_FILES = ("__init__.py", "access.py", "aio.py", "aio_tasks.py", "backends.py",
                  "config.py", "control.py", "control_locks.py", "events.py", "exits.py",
                  "faults.py", "focus.py", "forensics.py", "hooks.py", "installer.py",
                  "jsonio.py", "native.py", "protocol.py", "seeds.py", "server.py", "shim.py", "state.py",
                  "threads.py", "tracelog.py", "yields.py")

# Hook orders: the sequence in which the layers' logs are written at exit and on a dump,
# and in which their counters appear in the `counters` object.
_CONTROL, _YIELDS_LOG, _TRACE, _LOOP = 10, 20, 30, 40
_COUNT_YIELDS, _COUNT_LOOP, _COUNT_CONTROL = 0, 1, 2


def _thread_stacks(with_locks=False):
    # Forensics is imported only when something went wrong: a passing run never pays.
    from . import forensics
    return forensics.snapshot(with_locks=with_locks)


hooks.thread_stacks = _thread_stacks


def _layer(name):
    """Imports one layer during install() with bytecode writing on, as sitecustomize.py
    imports this module (see the note there)."""
    saved = sys.dont_write_bytecode
    sys.dont_write_bytecode = False
    try:
        return __import__(__package__ + "." + name, fromlist=["_"])
    finally:
        sys.dont_write_bytecode = saved


def _start_fields(forked=False):
    fields = {
        "pid": state.pid,
        "ppid": os.getppid(),
        "role": state.role,
        "python": "%d.%d.%d" % tuple(sys.version_info[:3]),
        "executable": sys.executable,
        "argv": list(sys.argv) if hasattr(sys, "argv") else [],
        "switch_interval": sys.getswitchinterval(),
        "yields": state.yields_mode,
        "process_key": "%016x" % state.process_key,
    }
    if forked:
        fields["fork"] = True
    if state.fork_server_command is not None:
        # A run forked by racehunt's fork server (or a fork of one): /proc/PID/cmdline is
        # the server's.
        fields["command"] = list(state.fork_server_command)
    elif not forked:
        # The whole command line, interpreter first: sys.argv lacks the interpreter, and
        # under -m it is still ["-m", ...] this early. A dump reads it when the process is
        # gone.
        try:
            with open("/proc/self/cmdline", "rb") as f:
                data = f.read()
            if data:
                fields["command"] = [os.fsdecode(a) for a in data.rstrip(b"\0").split(b"\0")]
        except OSError:
            pass
    if state.dump_signal is not None:
        fields["dump_signal"] = state.dump_signal
    return fields


def _mismatch(message):
    events.emit("warning", {"message": message, "code": "protocol_mismatch"})
    os.close(state.fd)
    state.fd = -1


def install():
    """Called by sitecustomize.py in every Python process that has RACEHUNT_PROTOCOL."""
    if state.installed:
        return
    env = os.environ
    run_dir = env.get(protocol.ENV_RUN_DIR)
    if not run_dir:
        return
    state.run_dir = run_dir
    state.pid = os.getpid()
    try:
        state.start_cwd = os.getcwd()
    except OSError:
        state.start_cwd = None
    state.fd = state.open_events(run_dir, state.pid)

    version = env.get(protocol.ENV_PROTOCOL)
    if version != str(PROTOCOL_VERSION):
        _mismatch("protocol_mismatch: the bootstrap speaks protocol %d, RACEHUNT_PROTOCOL is %r; "
                  "racehunt does nothing in this process" % (PROTOCOL_VERSION, version))
        return

    package = os.path.dirname(os.path.abspath(__file__))
    here = os.path.dirname(package)
    state.our_dir = here
    state.package_dir = package
    state.our_files = tuple(os.path.join(here, f) for f in _ENTRY_FILES) + \
        tuple(os.path.join(package, f) for f in _PACKAGE_FILES)

    try:
        state.config = _config.read(run_dir)
    except Exception as exc:
        events.warn("could not read config.json (%s: %s); using defaults: no switch interval, "
                    "no invariants, no yield points" % (type(exc).__name__, exc))
        state.config = {}
    config = state.config
    if config.get("protocol", PROTOCOL_VERSION) != PROTOCOL_VERSION:
        _mismatch("protocol_mismatch: config.json has protocol %r" % (config.get("protocol"),))
        return

    # Role: the root process hands "child" down to every Python process it starts.
    state.role = "root" if env.get(protocol.ENV_ROLE) == "root" else "child"
    if state.role == "root":
        env[protocol.ENV_ROLE] = "child"

    seed_text = config.get("run_seed") or env.get(protocol.ENV_RUN_SEED) or "0"
    try:
        seed = int(str(seed_text), 16) & seeds.MASK
    except ValueError:
        events.warn("run seed %r is not hexadecimal; using 0" % (seed_text,))
        seed = 0
    if state.role == "root":
        state.process_key = seed
    else:
        state.process_key = seeds.child_key(seed, getattr(sys, "argv", []))

    calm_after = config.get("calm_after")
    if isinstance(calm_after, (int, float)):
        state.calm_after = float(calm_after)

    interval = config.get("switch_interval")
    if interval is not None:
        try:
            # CPython stores whole microseconds, truncating (3e-6 * 1e6 is 2.99...96, so
            # 2 us); racehunt plans whole microseconds, so aim at the middle of the one
            # planned.
            micros = round(float(interval) * 1e6)
            before = sys.getswitchinterval()
            sys.setswitchinterval((micros + 0.5) / 1e6 if micros >= 1 else float(interval))
            # Calm (state.check_calm): the interpreter's own interval again.
            hooks.add("calm", lambda: sys.setswitchinterval(before))
        except Exception as exc:
            events.warn("switch interval %r rejected: %s: %s" % (interval, type(exc).__name__, exc))

    checks = _config.section(config, "checks")
    invariants = checks.get("invariants") or []
    exits.invariants = list(invariants) if isinstance(invariants, list) else [invariants]
    limit = checks.get("max_memory_growth")
    if state.role == "root" and isinstance(limit, int) and limit > 0:
        exits.memory_limit = limit
        import tracemalloc
        tracemalloc.start(1)

    import itertools
    state.thread_counter = itertools.count(1)
    state.main_ident = _thread.get_ident()
    state.main_native_id = state.native_id()
    state.started_at[state.main_ident] = round(time.time(), 6)

    sys.excepthook = events.excepthook_for(sys.excepthook)

    try:
        faults.enable_faulthandler()
    except Exception as exc:
        events.warn("faulthandler setup failed: %s: %s" % (type(exc).__name__, exc))

    control = _config.section(config, "control")
    if control and state.role == "root":
        try:
            _install_control(_config.Control(control))
        except Exception as exc:
            state.control = None
            events.warn("controlled mode could not start (%s: %s); the run goes on in noise mode"
                        % (type(exc).__name__, exc))

    yields = _config.Yields(_config.section(config, "yields"), events.warn)
    trace = yields.trace and state.control is None
    if yields.probability > 0.0 or (trace and yields.focus):
        if not yields.focus:
            events.warn("yields.probability is set but yields.focus is empty; yield points are off")
        else:
            try:
                _install_yields(yields, trace)
            except Exception as exc:
                state.yields = None
                state.yields_mode = "off"
                events.warn("yield points could not be set up: %s: %s" % (type(exc).__name__, exc))

    watch = {}
    threading = state.loaded("threading")
    if threading is not None:
        threads.patch_threading(threading)
    else:
        watch["threading"] = threads.patch_threading
    asyncio = state.loaded("asyncio")
    if asyncio is not None:
        _install_asyncio(asyncio)
    else:
        watch["asyncio"] = _install_asyncio
    if watch:
        sys.meta_path.insert(0, threads.ImportWatcher(watch))

    import atexit
    atexit.register(exits.at_exit)
    hooks.add("dump", _thread_snapshot_on_dump, order=0)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)

    if protocol.SHIM_OPTION_ARM_PYTHON in env.get(protocol.ENV_SHIM, "").split(":"):
        _layer("shim").arm_when_main_starts()

    # racehunt.py finds this module under the name it has always looked up, so that a copy
    # of racehunt.py kept next to the workload's code keeps working inside a run.
    sys.modules.setdefault("_racehunt_bootstrap", events)
    state.installed = True
    events.emit("start", _start_fields())
    for message in state.pending_warnings:
        events.emit("warning", {"message": message})
    del state.pending_warnings[:]
    if not state.threading_patched:
        try:
            threads.write_thread_map()
        except Exception as exc:
            events.warn("could not write the thread map: %s: %s" % (type(exc).__name__, exc))


# ---------------------------------------------------------------------------------------
# The layers a run switches on.

def _install_control(settings):
    control = _layer("control")
    sched = control.Scheduler(
        seeds.derive(state.process_key, protocol.STREAM_TAG_CONTROL), settings.strategy, settings.depth,
        settings.pct_steps, settings.max_steps, settings.stall, events.emit, events.warn)
    state.control = sched

    def patch_threading(threading):
        from . import control_locks
        control_locks.install(threading, sched, _thread.allocate_lock, events.abs_file)

    hooks.add("threading", patch_threading, order=_CONTROL)
    hooks.add("dump", _write_control_log, order=_CONTROL)
    hooks.add("counters", lambda: {"control_steps": sched.steps,
                                   "control_switches": sched.switches,
                                   "control_lost": 1 if sched.lost is not None else 0},
              order=_COUNT_CONTROL)


def _write_control_log():
    """control-<pid>.log: the controlled schedule, step by step (docs/PROTOCOL.md)."""
    if state.control is None or state.run_dir is None:
        return
    try:
        data = state.control.render_log(events.abs_file).encode("utf-8", "replace")
        events.write_atomically(os.path.join(state.run_dir, protocol.CONTROL_LOG % state.pid), data)
    except Exception as exc:
        events.warn("could not write the controlled schedule: %s: %s" % (type(exc).__name__, exc))


def _install_yields(settings, trace):
    backends = _layer("backends")
    backends.setup(min(settings.probability, 1.0), settings.granularity, settings.focus,
                   settings.log, settings.pins, trace, settings.sites, settings.semantics)
    y = state.yields
    if y is None:
        return

    def counters():
        visits, taken = y.counters()
        result = {"yield_points": visits, "yields": taken}
        if y.budget_hits:
            result["yields_over_budget"] = y.budget_hits
        if y.sites > 0:
            result["site_yields"] = y.site_yields
        if y.non_native:
            result["yields_non_native"] = y.non_native
        if y.native_unenforced:
            result["native_points_unenforced"] = 1
        return result

    def write_log_at_exit():
        if y.log_enabled:
            try:
                y.write_log()
            except Exception as exc:
                events.warn("could not write yields log: %s: %s" % (type(exc).__name__, exc))

    def write_trace_at_exit():
        try:
            y.write_trace()
        except Exception as exc:
            events.warn("could not write the trace: %s: %s" % (type(exc).__name__, exc))

    def write_log_on_dump():
        if y.log_enabled:
            y.write_log()   # a hung process never reaches its atexit

    hooks.add("counters", counters, order=_COUNT_YIELDS)
    hooks.add("thread_begins", backends.thread_begins)
    hooks.add("threading", backends.guard_threading_settrace, order=0)
    hooks.add("after_fork", backends.after_fork)
    hooks.add("exit", backends.check_main_tracer, order=0)
    hooks.add("exit", _write_control_log, order=_CONTROL)
    hooks.add("exit", write_log_at_exit, order=_YIELDS_LOG)
    hooks.add("exit", write_trace_at_exit, order=_TRACE)
    hooks.add("dump", write_log_on_dump, order=_YIELDS_LOG)
    hooks.add("dump", y.write_trace, order=_TRACE)


def _install_asyncio(asyncio):
    """The asyncio layer (aio.py, aio_tasks.py), once the asyncio package is imported."""
    try:
        from . import aio
        from . import aio_tasks
        settings = _config.Asyncio(state.config, events.warn)
        aio.install(asyncio, settings)
        aio_tasks.install(asyncio, settings)
    except Exception as exc:
        events.warn("racehunt could not patch asyncio: %s: %s" % (type(exc).__name__, exc))
        return

    def gc_at_exit():
        try:
            aio_tasks.at_exit()
        except Exception as exc:
            events.internal_error("asyncio exit", exc)

    def write_loop_log_at_exit():
        try:
            aio.write_log()
        except Exception as exc:
            events.warn("could not write the loop log: %s: %s" % (type(exc).__name__, exc))

    def after_fork():
        aio.after_fork()
        aio_tasks.after_fork()

    hooks.failure_loops = aio_tasks.failure_loops
    hooks.loops_snapshot = aio_tasks.snapshot_loops
    hooks.add("counters", aio.counters, order=_COUNT_LOOP)
    hooks.add("before_exit", gc_at_exit)
    hooks.add("exit_late", write_loop_log_at_exit, order=_LOOP)
    hooks.add("dump", aio.write_log, order=_LOOP)
    hooks.add("after_fork", after_fork, order=-1)


# ---------------------------------------------------------------------------------------
# fork() without exec: multiprocessing's "fork" start method and plain os.fork.

def _thread_snapshot_on_dump():
    # Names as they are now: a thread renamed after it began shows its new name.
    try:
        threads.write_thread_map()
    except Exception as exc:
        events.internal_error("thread map", exc)


def _before_fork():
    state.fork_count += 1


def _after_fork_in_child():
    """The child is a new process of the run: own files, role child, own decision streams."""
    try:
        state.reset_for_child()
        for hook in hooks.each("after_fork"):
            hook()
        try:
            faults.enable_faulthandler()
        except Exception as exc:
            events.warn("faulthandler setup failed after fork: %s: %s" % (type(exc).__name__, exc))
        events.emit("start", _start_fields(forked=True))
        threads.write_child_thread_map()
    except Exception as exc:
        events.internal_error("fork child", exc)
