"""faulthandler and the dump signal. faulthandler writes every thread's raw stack to
faulthandler-<pid>.txt on a crash and on racehunt's dump signal (RACEHUNT_DUMP_SIGNAL,
sent to a hung run); the Python half of the dump signal then writes what only Python can
say (pystacks-<pid>.json, the layers' logs, the counters so far) and marks the process
dumped. Python 3.8 syntax only.
"""
import os
import sys
import _thread

from . import events
from . import exits
from . import hooks
from . import protocol
from . import state

_fault_file = None          # kept alive: faulthandler writes to its descriptor
_fault_user_owned = False


def enable_faulthandler():
    global _fault_file, _fault_user_owned
    import faulthandler
    old = _fault_file
    if old is None and faulthandler.is_enabled():
        _fault_user_owned = True
    path = os.path.join(state.run_dir, protocol.FAULTHANDLER_FILE % state.pid)
    if _fault_user_owned:
        # -X faulthandler or PYTHONFAULTHANDLER: the user wants crash stacks on stderr,
        # which the harness captures too; leave it alone.
        events.warn("faulthandler was already enabled by the workload's settings; crash stacks "
                    "go to its file (usually stderr), not to faulthandler-%d.txt" % state.pid)
        _fault_file = open(path, "a")
    else:
        _fault_file = open(path, "a")
        faulthandler.enable(file=_fault_file, all_threads=True)
    if old is not None:
        try:
            old.close()
        except Exception:
            pass
    raw = os.environ.get(protocol.ENV_DUMP_SIGNAL)
    if raw:
        try:
            signum = int(raw)
            # Once per process image: a forked child inherits both handlers, and installing
            # the Python one again would displace faulthandler's, which register() would not
            # put back (it believes it is still installed).
            if state.dump_signal is None and (_thread.get_ident() == state.main_ident
                                              or state.main_ident is None):
                import _signal
                _signal.signal(signum, _on_dump_signal)
            faulthandler.register(signum, file=_fault_file, all_threads=True, chain=True)
            state.dump_signal = signum
        except Exception as exc:
            events.warn("RACEHUNT_DUMP_SIGNAL=%r could not be registered: %s: %s"
                        % (raw, type(exc).__name__, exc))


def _on_dump_signal(signum, frame):
    """Python half of the dump signal (faulthandler, registered with chain=True, writes
    the raw stacks first, from C, even when no Python code can run): names and lock
    relations of every thread, in pystacks-<pid>.json. Runs in the main thread as soon as
    it can run Python (a thread blocked in a lock acquire, join or sleep is woken for it)."""
    # Yield points traced through settrace would trace this handler's thousands of calls
    # too (measured: 200 ms instead of 20); it is the last thing the process does.
    real_settrace = state.real_settrace
    tracer = sys.gettrace() if real_settrace is not None else None
    if tracer is not None:
        real_settrace(None)
    state.dumping = True
    try:
        from . import forensics
        forensics.write_pystacks("dump_signal")
        for hook in hooks.each("dump"):
            hook()
        # A hung process never reaches its `exit` event: its counters so far.
        events.emit("counters", {"counters": exits.counters()})
    except Exception as exc:
        events.internal_error("dump signal", exc)
    finally:
        state.dumping = False
        if tracer is not None:
            real_settrace(tracer)
        # The harness kills the run once every signalled process has written this (or
        # after a deadline): all of the above is on disk by then.
        try:
            events.write_atomically(os.path.join(state.run_dir, protocol.DUMPED_FILE % os.getpid()), b"")
        except OSError:
            pass
