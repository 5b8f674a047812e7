"""Events: one JSON object per line of py-<pid>.jsonl, written with one write(), and the
pieces every failure report is made of (types, messages, frames, thread names).

Also the two functions racehunt.py calls (is_installed, record_check_failed).
"""
import os
import sys
import time
import _thread

from . import hooks
from . import state
from .jsonio import dumps, safe_repr


def is_installed():
    """True when install() succeeded in this process (used by racehunt.active())."""
    return state.installed


def emit(event, fields=None):
    """Append one event as one line with one write(); never raises."""
    if state.fd < 0:
        return
    try:
        record = {"event": event}
        if fields:
            record.update(fields)
        record["time"] = round(time.time(), 6)
        os.write(state.fd, dumps(record) + b"\n")
    except Exception:
        pass


def warn(message, key=None):
    """A `warning` event; with a key, only the first warning of that key is written."""
    if key is not None:
        if key in state.warned:
            return
        state.warned.add(key)
    if not state.installed:
        state.pending_warnings.append(message)
    else:
        emit("warning", {"message": message})


def internal_error(where, exc):
    """A bug or an unexpected state inside racehunt: say so once per place, carry on."""
    try:
        warn("racehunt internal error in %s: %s: %s" % (where, type(exc).__name__, exc),
             key="internal:" + where)
    except Exception:
        pass


def write_atomically(path, data):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0),
                 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def qualified_type(exc_type):
    try:
        module = getattr(exc_type, "__module__", None)
        name = getattr(exc_type, "__qualname__", None) or exc_type.__name__
        if module in (None, "builtins", "__builtin__"):
            return name
        return "%s.%s" % (module, name)
    except Exception:
        return safe_repr(exc_type)


def exc_message(exc):
    try:
        text = str(exc)
    except Exception as err:
        text = "<str() failed: %s>" % type(err).__name__
    if len(text) > 4000:
        text = text[:4000] + "...(%d more characters)" % (len(text) - 4000)
    return text


MAX_FRAMES = 200


def trim_frames(frames, fields):
    # A RecursionError has about a thousand frames; the outermost and innermost ones are
    # what a reader needs, and a bounded event keeps the one-write-per-line promise cheap.
    if len(frames) > MAX_FRAMES:
        fields["frames_omitted"] = len(frames) - MAX_FRAMES
        frames = frames[:20] + frames[-(MAX_FRAMES - 20):]
    fields["frames"] = frames


_abs_cache = {}


def abs_file(name):
    """The absolute form of a code object's file name.

    Python 3.8 keeps the script's path as typed on the command line ("w.py"), relative to
    the directory the process started in; later versions make it absolute. Resolving
    against the start directory gives every version the same, readable names, even when
    the workload changed directory since.
    """
    result = _abs_cache.get(name)
    if result is None:
        result = name
        if name and not name.startswith("<") and not os.path.isabs(name) and state.start_cwd:
            result = os.path.normpath(os.path.join(state.start_cwd, name))
        _abs_cache[name] = result
    return result


def tb_frames(tb):
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append([abs_file(code.co_filename), tb.tb_lineno, code.co_name])
        tb = tb.tb_next
    return frames


def thread_objects():
    """ident -> threading.Thread for threads threading knows about (empty before import)."""
    threading = state.loaded("threading")
    if threading is None or not state.threading_patched:
        return {}
    try:
        return dict(threading._active)
    except Exception:
        return {}


def thread_name(ident):
    thread = thread_objects().get(ident)
    if thread is not None:
        try:
            return thread.name
        except Exception:
            pass
    return "MainThread" if ident == state.main_ident else "Thread-%d" % ident


def all_threads(with_locks=False):
    """Every thread's name and stack at this moment (see forensics.snapshot); [] when that
    fails, so that a failure report is never lost over its stacks."""
    try:
        return hooks.thread_stacks(with_locks)
    except Exception as exc:
        warn("could not take the stacks of all threads: %s: %s" % (type(exc).__name__, exc),
             key="all_threads")
        return []


def failure_loops():
    """The asyncio loops' tasks for a failure report; [] when asyncio is not in use."""
    provider = hooks.failure_loops
    if provider is None:
        return []
    try:
        return provider()
    except Exception as exc:
        warn("could not list the asyncio tasks: %s: %s" % (type(exc).__name__, exc),
             key="failure_loops")
        return []


def add_loops(fields):
    loops = failure_loops()
    if loops:
        fields["loops"] = loops


def record_exception(exc_type, exc, tb, name, ident, native_id):
    if exc_type is not None and issubclass(exc_type, SystemExit):
        # SystemExit is how a program or a thread says "stop"; it is not a failure.
        return
    fields = {
        "thread": name,
        "ident": ident,
        "native_id": native_id,
        "main": ident == state.main_ident,
        "type": qualified_type(exc_type),
        "message": exc_message(exc),
    }
    trim_frames(tb_frames(tb), fields)
    fields["threads"] = all_threads()
    add_loops(fields)
    emit("exception", fields)


def record_check_failed(message, skip_frames=0):
    """Write `check_failed` with the stacks of all threads; see racehunt.check()."""
    if not state.installed:
        return
    try:
        me = _thread.get_ident()
        emit("check_failed", {
            "message": message if isinstance(message, str) else safe_repr(message),
            "thread": thread_name(me),
            "ident": me,
            "threads": all_threads(),
            "loops": failure_loops(),
        })
    except Exception as exc:
        warn("racehunt.check could not record its failure: %s: %s" % (type(exc).__name__, exc))


def excepthook_for(original):
    """sys.excepthook while racehunt is installed: record, then the hook in force before."""
    def excepthook(exc_type, exc, tb):
        try:
            ident = _thread.get_ident()
            record_exception(exc_type, exc, tb, thread_name(ident), ident, state.native_id())
        except Exception as err:
            internal_error("main exception", err)
        hook = original or sys.__excepthook__
        return hook(exc_type, exc, tb)
    return excepthook
