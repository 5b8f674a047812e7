"""threading and imports: the hooks racehunt puts into `threading` when the workload
imports it (thread creation order, names, exceptions of threads, the end of the main
module), the thread map the harness reads to name the threads of a dump, and the import
watcher that patches threading and asyncio as they are imported, never before.
Python 3.8 syntax only.
"""
import os
import sys
import time
import _thread

from . import events
from . import exits
from . import hooks
from . import protocol
from . import state
from .jsonio import dumps


def _thread_entry(thread, ident=None, native_id=None):
    if ident is None:
        ident = thread.ident
    if native_id is None:
        native_id = getattr(thread, "native_id", None)
    return {"name": thread.name, "ident": ident, "native_id": native_id,
            "daemon": bool(thread.daemon), "started_at": state.started_at.get(ident)}


# The thread log is appended to, one line per thread that begins or ends: one write(2)
# in the thread that starts. Rewriting a whole map there (the first design) made each
# thread start 5-10x slower than in plain Python and hid races that need threads to start
# close together (a LazyLoader first-access race: 40/40 plain, 31/40 under racehunt).
_COMPACT_AFTER = 2048       # lines since the last snapshot before the log is rewritten


def _begin_line(entry):
    return b'{"begin":%d,"name":%s,"native_id":%s,"daemon":%s,"started_at":%s}\n' % (
        entry["ident"], dumps(entry["name"]), dumps(entry["native_id"]),
        b"true" if entry["daemon"] else b"false", dumps(entry["started_at"]))


def _live_entries():
    main_ident = state.main_ident
    entries, seen = [], set()
    for ident, thread in events.thread_objects().items():
        try:
            entries.append(_thread_entry(thread, ident))
        except Exception:
            continue
        seen.add(ident)
    if main_ident not in seen and not state.threading_patched:
        # Before the workload imports threading, the only thread we know of is ours.
        entries.append({"name": "MainThread", "ident": main_ident, "native_id": state.main_native_id,
                        "daemon": False, "started_at": state.started_at.get(main_ident)})
    # Main thread first, the others in start order: the order a reader expects.
    entries.sort(key=lambda e: (e["ident"] != main_ident, e["started_at"] or 0.0))
    return entries


def _snapshot(entries):
    return b'{"live":%s}\n' % dumps(entries)


def _log_path():
    return os.path.join(state.run_dir, protocol.THREADS_FILE % state.pid)


def _append(data):
    """Appends to threads-<pid>.jsonl; the caller holds state.map_lock."""
    if state.thread_log_fd is None:
        state.thread_log_fd = os.open(_log_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT
                                      | getattr(os, "O_CLOEXEC", 0), 0o644)
    os.write(state.thread_log_fd, data)
    state.thread_log_lines += 1


def write_thread_map():
    """A snapshot line of every live thread with its current Python name (a thread renamed
    after it began shows its new name from here on). Written at start-up, when threading
    is imported, and on the dump signal."""
    if state.run_dir is None:
        return
    with state.map_lock:
        _append(_snapshot(_live_entries()))
        state.thread_log_lines = 0


def _log_thread(line):
    if state.run_dir is None:
        return
    with state.map_lock:
        if state.thread_log_lines < _COMPACT_AFTER:
            _append(line)
            return
        # A process that starts threads by the thousand: the log starts again from a
        # snapshot, replaced atomically, so that it stays as long as its live threads.
        old, state.thread_log_fd = state.thread_log_fd, None
        events.write_atomically(_log_path(), _snapshot(_live_entries()))
        state.thread_log_lines = 0
        if old is not None:
            os.close(old)
        if line.startswith(b'{"begin"'):
            _append(line)


def write_child_thread_map():
    """A forked child's first thread log: the thread that forked is its main thread."""
    thread = events.thread_objects().get(state.main_ident)
    name = thread.name if thread is not None else "MainThread"
    with state.map_lock:
        _append(_snapshot([{"name": name, "ident": state.main_ident, "native_id": state.main_native_id,
                            "daemon": False, "started_at": state.started_at[state.main_ident]}]))
        state.thread_log_lines = 0


def patch_threading(threading):
    if state.threading_patched:
        return
    Thread = threading.Thread
    orig_start = Thread.start
    orig_bootstrap_inner = Thread._bootstrap_inner
    orig_shutdown = threading._shutdown

    def start(self):
        # Creation order is decided in the starting thread, where the workload's own
        # order is deterministic, not in the new thread, where it races.
        if getattr(self, "_racehunt_index", None) is None:
            try:
                self._racehunt_index = next(state.thread_counter)
            except Exception:
                pass
        return orig_start(self)

    def _bootstrap_inner(self):
        try:
            _thread_begins(self)
        except Exception as exc:
            events.internal_error("thread start", exc)
        try:
            orig_bootstrap_inner(self)
        finally:
            try:
                _thread_ends(self)
            except Exception as exc:
                events.internal_error("thread end", exc)

    def _shutdown():
        # CPython's finalisation looks up threading._shutdown by name (3.8-3.13) and
        # calls it once the main module returned or raised, before atexit handlers.
        first = not state.main_done_written
        if state.control is not None:
            # The main thread waits for the others outside the scheduler.
            state.control.retire()
        if first:
            try:
                exits.write_main_done(threading)
            except Exception as exc:
                events.internal_error("main_done", exc)
        result = orig_shutdown()
        if first:
            try:
                exits.after_join()
            except Exception as exc:
                events.internal_error("invariants", exc)
        return result

    start.__wrapped__ = orig_start
    _bootstrap_inner.__wrapped__ = orig_bootstrap_inner
    _shutdown.__wrapped__ = orig_shutdown
    Thread.start = start
    Thread._bootstrap_inner = _bootstrap_inner
    threading._shutdown = _shutdown

    for hook in hooks.each("threading"):
        hook(threading)
    state.threading_patched = True
    # The main thread now has a threading name; the map shows it.
    try:
        write_thread_map()
    except Exception as exc:
        events.internal_error("thread map", exc)


def _thread_begins(thread):
    ident = _thread.get_ident()
    state.started_at[ident] = round(time.time(), 6)
    if len(state.names_seen) < 4096:
        state.names_seen[state.native_id()] = thread.name
    index = getattr(thread, "_racehunt_index", None)
    if index is None:
        index = next(state.thread_counter)
    invoke = getattr(thread, "_invoke_excepthook", None)
    if invoke is not None:
        # Thread._bootstrap_inner calls this instance attribute with the exception active.
        # Wrapping it rather than threading.excepthook means exceptions are recorded even
        # when the workload (pytest does) swaps threading.excepthook, and the output of
        # whatever hook is in force stays exactly the same.
        def invoke_excepthook(t, _invoke=invoke):
            try:
                exc_type, exc, tb = sys.exc_info()
                events.record_exception(exc_type, exc, tb, t.name, _thread.get_ident(),
                                        state.native_id())
            except Exception as err:
                events.internal_error("thread exception", err)
            return _invoke(t)
        thread._invoke_excepthook = invoke_excepthook
    for hook in hooks.each("thread_begins"):
        hook(thread, index)
    _log_thread(_begin_line({"name": thread.name, "ident": ident, "native_id": state.native_id(),
                              "daemon": bool(thread.daemon), "started_at": state.started_at[ident]}))


def _thread_ends(thread):
    ident = _thread.get_ident()
    state.started_at.pop(ident, None)
    _log_thread(b'{"end":%d}\n' % ident)


class ImportWatcher(object):
    """A meta path finder that patches a module right after it is executed: threading,
    asyncio. It removes itself once it has seen them all.

    Importing them ourselves would cost 2-4 ms (threading) or 20-30 ms (asyncio) in every
    process, most of which never use them; this finder costs one dictionary lookup per
    import until then.
    """

    def __init__(self, patches):
        self.patches = patches

    def find_spec(self, name, path=None, target=None):
        # Only looked up here: a find_spec() that probes for the module without importing
        # it must leave the patch armed. The loader takes it when the module executes.
        if name not in self.patches:
            return None
        spec = None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if find is None or finder is self:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _PatchingLoader(spec.loader, self, name)
        return spec

    def take(self, name):
        """The patch for a module that is being executed, once; the watcher leaves
        sys.meta_path when it has none left."""
        patch = self.patches.pop(name, None)
        if not self.patches:
            try:
                sys.meta_path.remove(self)
            except ValueError:
                pass
        return patch

    # Python 3.8-3.11 still consult this legacy method on some paths.
    def find_module(self, name, path=None):
        return None


class _PatchingLoader(object):
    def __init__(self, loader, watcher, name):
        self.loader = loader
        self.watcher = watcher
        self.name = name

    def create_module(self, spec):
        create = getattr(self.loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module):
        # Put the real loader back first, so that the module looks exactly as if
        # we had not been there (linecache, importlib.reload and friends use it).
        try:
            module.__loader__ = self.loader
            module.__spec__.loader = self.loader
        except Exception:
            pass
        self.loader.exec_module(module)
        patch = self.watcher.take(self.name)
        if patch is None:
            return          # patched already (a second module object, importlib.reload)
        try:
            patch(module)
        except Exception as exc:
            events.warn("racehunt could not patch %s: %s: %s"
                        % (module.__name__, type(exc).__name__, exc))

    def __getattr__(self, name):
        return getattr(self.loader, name)
