"""racehunt's asyncio layer, part two: the asyncio checks ([check].asyncio_warnings: a
task exception never retrieved, a task destroyed pending, a coroutine never awaited) and
the forensics of tasks (every pending task with its coroutine stack, what it awaits, the
asyncio locks it holds, and a wait-for cycle among them) for failure reports and dumps.

Installed with aio.py, once the workload has imported asyncio. Python 3.8 syntax only.
"""
import os

from . import aio
from . import events
from . import state as _proc
from .aio import _task_name
from .jsonio import safe_repr

_check = "warn"              # [check].asyncio_warnings
_at_end = None               # task snapshot taken when asyncio.run() ended with tasks pending
_warnings_seen = 0


def install(asyncio, settings):
    """After aio.install(): the checks and the snapshot at the end of asyncio.run()."""
    global _check
    _check = settings.check
    base_events = _proc.loaded("asyncio.base_events")
    orig_handler = base_events.BaseEventLoop.call_exception_handler

    def call_exception_handler(self, context):
        aio._guarded("asyncio exception handler", _exception_context, context)
        return orig_handler(self, context)

    call_exception_handler.__wrapped__ = orig_handler
    base_events.BaseEventLoop.call_exception_handler = call_exception_handler
    _patch_runners(asyncio)
    if _check != "ignore":
        _patch_warnings()


def after_fork():
    global _at_end
    _at_end = None


_UNRETRIEVED = ("Task exception was never retrieved", "Future exception was never retrieved")
_DESTROYED = "Task was destroyed but it is pending!"


def _exception_context(context):
    message = context.get("message") if isinstance(context, dict) else None
    if message in _UNRETRIEVED:
        exc = context.get("exception")
        task = context.get("future")
        fields = {"kind": "unretrieved-exception", "message": message}
        if isinstance(task, aio._task_types):
            fields["task"] = _task_name(task)
            coro = _coro_of(task)
            if coro is not None:
                fields["coroutine"] = _coro_name(coro)
        if exc is not None:
            fields["type"] = events.qualified_type(type(exc))
            fields["exception"] = events.exc_message(exc)
            frames = events.tb_frames(getattr(exc, "__traceback__", None))
            events.trim_frames(frames, fields)
        _warning_event(fields)
    elif message == _DESTROYED:
        task = context.get("task")
        fields = {"kind": "destroyed-pending", "message": message}
        if isinstance(task, aio._task_types):
            fields["task"] = _task_name(task)
            fields["frames"] = _task_frames(task)[0]
        _warning_event(fields)


def _warning_event(fields):
    global _warnings_seen
    _warnings_seen += 1
    if _warnings_seen <= 100:
        events.emit("asyncio_warning", fields)


def _never_awaited(coro):
    fields = {"kind": "never-awaited", "coroutine": _coro_name(coro),
              "message": "coroutine '%s' was never awaited" % _coro_name(coro)}
    code = getattr(coro, "cr_code", None)
    if code is not None:
        fields["frames"] = [[events.abs_file(code.co_filename), code.co_firstlineno, code.co_name]]
    _warning_event(fields)


def _patch_warnings():
    warnings = _proc.loaded("warnings")
    orig = getattr(warnings, "_warn_unawaited_coroutine", None) if warnings is not None else None
    if orig is None or getattr(orig, "__wrapped__", None) is not None:
        return

    def _warn_unawaited_coroutine(coro):
        aio._guarded("unawaited coroutine", _never_awaited, coro)
        return orig(coro)

    _warn_unawaited_coroutine.__wrapped__ = orig
    warnings._warn_unawaited_coroutine = _warn_unawaited_coroutine


def _patch_runners(asyncio):
    runners = _proc.loaded("asyncio.runners")
    orig = getattr(runners, "_cancel_all_tasks", None)
    if orig is None:
        return

    def remember(loop):
        global _at_end
        if _proc.installed and asyncio.all_tasks(loop):
            _at_end = snapshot_loops(only=loop, reason="asyncio.run() ended")

    def _cancel_all_tasks(loop):
        # asyncio.run() ends (returned or raised) and is about to cancel what is still
        # pending: the last moment the tasks' stacks can be seen. Kept for a failure
        # report of this process.
        aio._guarded("asyncio.run end", remember, loop)
        return orig(loop)

    _cancel_all_tasks.__wrapped__ = orig
    runners._cancel_all_tasks = _cancel_all_tasks



def at_exit():
    """Before the `exit` event: tasks destroyed only by the cyclic collector would report
    their unretrieved exceptions after racehunt's last event, or never; one collection
    brings the report forward."""
    if _check != "ignore" and aio._patched:
        import gc
        gc.collect()



# ---------------------------------------------------------------------------------------
# Forensics: pending tasks of every loop, with their coroutine stacks and what they await.

def _coro_of(task):
    try:
        return task.get_coro()
    except Exception:
        return None


def _coro_name(coro):
    return getattr(coro, "__qualname__", None) or getattr(coro, "__name__", None) \
        or type(coro).__name__


def _awaited_chain(coro):
    """The frames of a suspended coroutine and of what it awaits, outermost first, and the
    innermost object awaited that has no frame (a Future, usually)."""
    frames = []
    obj = coro
    last = None
    for _ in range(200):
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None) \
            or getattr(obj, "ag_frame", None)
        if frame is None:
            last = obj
            break
        frames.append(frame)
        nxt = getattr(obj, "cr_await", None)
        if nxt is None:
            nxt = getattr(obj, "gi_yieldfrom", None)
        if nxt is None:
            nxt = getattr(obj, "ag_await", None)
        if nxt is None:
            break
        obj = nxt
    return frames, last


def _task_frames(task):
    coro = _coro_of(task)
    if coro is None:
        return [], []
    frames, _ = _awaited_chain(coro)
    return [[events.abs_file(f.f_code.co_filename), f.f_lineno, f.f_code.co_name] for f in frames], frames


def _waiting_on(task, frames):
    """What a pending task waits for: another task, or the innermost library call it is
    suspended in (asyncio.Queue.get, asyncio.Event.wait, asyncio.sleep, ...)."""
    waiter = getattr(task, "_fut_waiter", None)
    if isinstance(waiter, aio._task_types):
        return {"expr": "task \"%s\" to finish" % _task_name(waiter), "type": "task",
                "task": id(waiter), "held_by": _task_name(waiter), "held_by_task": id(waiter)}
    children = getattr(waiter, "_children", None)       # asyncio.gather's future
    if isinstance(children, (list, tuple)):
        pending = [c for c in children if isinstance(c, aio._task_types) and not c.done()]
        if pending:
            names = ", ".join("\"%s\"" % _task_name(c) for c in pending[:5])
            more = " and %d more" % (len(pending) - 5) if len(pending) > 5 else ""
            return {"expr": "task%s %s%s to finish (gather)" % ("s" if len(pending) > 1 else "",
                                                               names, more),
                    "type": "task", "held_by": _task_name(pending[0]),
                    "held_by_task": id(pending[0])}
    if waiter is None:
        return {"expr": "its turn to run (scheduled, not waiting)", "type": "ready"}
    for frame in reversed(frames):
        code = frame.f_code
        if not code.co_filename.startswith(_proc.our_dir or "\0"):
            name = getattr(code, "co_qualname", None)
            if not name:
                owner = frame.f_locals.get("self") if type(frame.f_locals) is dict else None
                name = (type(owner).__name__ + "." + code.co_name) if owner is not None else code.co_name
            module = os.path.basename(code.co_filename)
            return {"expr": "%s() (%s:%d)" % (name, module, frame.f_lineno), "type": "future"}
    return {"expr": "a future: %s" % safe_repr(waiter, 200), "type": "future"}


def _acquiring_async(frame):
    name = frame.f_code.co_filename
    return name.endswith(os.sep + "asyncio" + os.sep + "locks.py") and \
        frame.f_code.co_name in ("acquire", "__aenter__")


def snapshot_loops(only=None, reason=None):
    """Every loop this process ran that is still open: its thread, its pending tasks (name,
    coroutine stack outermost first, what each awaits, asyncio locks held from `async
    with` blocks), a wait-for cycle among them, and finished tasks whose exception nobody
    retrieved. [] when asyncio was never used."""
    if not aio._patched or aio._loops is None:
        return []
    from . import forensics
    loops = []
    for loop in ([only] if only is not None else list(aio._loops)):
        try:
            if loop.is_closed():
                continue
        except Exception:
            continue
        entry = {"thread": getattr(loop, "_thread_id", None), "running": loop.is_running()}
        if reason:
            entry["reason"] = reason
        pending, unretrieved = [], []
        try:
            all_tasks = list(_all_tasks_of(loop))
        except Exception:
            all_tasks = []
        for task in all_tasks:
            try:
                if task.done():
                    # Read without exception(), which would mark it retrieved (and the
                    # flag cannot be set back): asyncio must still report it.
                    exc = getattr(task, "_exception", None)
                    if exc is not None and getattr(task, "_log_traceback", False):
                        item = {"name": _task_name(task), "type": events.qualified_type(type(exc)),
                                "message": events.exc_message(exc)}
                        events.trim_frames(events.tb_frames(exc.__traceback__), item)
                        unretrieved.append(item)
                    continue
                listed, frames = _task_frames(task)
                item = {"name": _task_name(task), "id": id(task), "frames": listed}
                coro = _coro_of(task)
                if coro is not None:
                    item["coroutine"] = _coro_name(coro)
                waits = _waiting_on(task, frames)
                lock_waits, holds = forensics._relations(frames, _acquiring_async)
                if lock_waits is not None and waits.get("type") != "task":
                    waits = lock_waits
                item["waits_for"] = waits
                if holds:
                    item["holds"] = holds
                pending.append(item)
            except Exception as exc:
                pending.append({"name": _task_name(task), "frames": [],
                                "error": "%s: %s" % (type(exc).__name__, exc)})
        _link_holders(pending)
        entry["tasks"] = pending
        entry["cycle"] = [t["name"] for t in _task_cycle(pending)]
        if unretrieved:
            entry["unretrieved"] = unretrieved
        loops.append(entry)
    return loops


def _all_tasks_of(loop):
    # asyncio.all_tasks(loop) leaves out done tasks; the unretrieved ones are done.
    tasks_module = _proc.loaded("asyncio.tasks")
    seen = []
    for attr in ("_all_tasks", "_scheduled_tasks"):
        group = getattr(tasks_module, attr, None)
        if group is not None:
            for _ in range(100):
                try:
                    seen = list(group)
                    break
                except RuntimeError:
                    continue
            break
    out = [t for t in seen if getattr(t, "_loop", None) is loop]
    try:
        for t in aio._asyncio.all_tasks(loop):
            if t not in out:
                out.append(t)
    except Exception:
        pass
    out.sort(key=_creation_order)
    return out


def _creation_order(task):
    name = _task_name(task)
    if name.startswith("Task-") and name[5:].isdigit():
        return (0, int(name[5:]), name)
    return (1, 0, name)


def _link_holders(tasks):
    """A task waiting for an asyncio lock another task holds (from its `async with`)."""
    owner_of = {}
    for t in tasks:
        for h in t.get("holds", ()):
            owner_of.setdefault(h.get("id"), t)
    for t in tasks:
        w = t.get("waits_for") or {}
        if w.get("type") in ("task", "ready", "future"):
            continue
        holder = owner_of.get(w.get("id"))
        if holder is not None and holder is not t:
            w["held_by"] = holder["name"]
            w["held_by_task"] = holder["id"]


def _task_cycle(tasks):
    by_id = {t.get("id"): t for t in tasks}
    for start in tasks:
        seen, path, t = set(), [], start
        while t is not None and t.get("id") not in seen:
            seen.add(t.get("id"))
            path.append(t)
            nxt = (t.get("waits_for") or {}).get("held_by_task")
            t = by_id.get(nxt) if nxt is not None else None
        if t is not None and t.get("id") in seen:
            cycle = path[path.index(t):]
            if len(cycle) > 1:
                return cycle
    return []


def failure_loops():
    """Loops for a failure report: the running ones now, else what asyncio.run() left
    pending when it ended (the uncaught exception reaches the excepthook after that)."""
    loops = snapshot_loops()
    if not any(entry.get("tasks") or entry.get("unretrieved") for entry in loops) and _at_end:
        return _at_end
    return loops
