"""racehunt's asyncio layer: seeded task-order perturbation, task forensics, asyncio checks.

Imported by the bootstrap once the workload has imported asyncio (never before: a process
that does not use asyncio pays nothing). docs/PROTOCOL.md ("asyncio") is the contract.

Perturbation. Every loop derived from asyncio.BaseEventLoop (the selector and proactor
loops, whether made by asyncio.run, a policy, a Runner's loop_factory or by hand) runs its
ready callbacks through BaseEventLoop._run_once, which is wrapped here. Before each
iteration, from the run's seed:
- *shuffle*: each run of adjacent ready handles that resume a task (a Task's step or
  wakeup) is permuted in place;
- *defer*: a ready handle that resumes a task is replaced by a stand-in Handle that puts
  it back at the end of the queue, so the task runs one or more iterations later, as if
  what it awaited had completed later.
Other callbacks (loop.call_soon, a future's done callbacks, transports) are never moved,
and no task moves ahead of one queued before it: asyncio documents that call_soon
callbacks run in the order they were registered, and a program may rely on it. The
order in which tasks resume is not documented. A deferred handle still runs exactly once,
a cancelled one is still skipped, and the queue is changed in place only (other threads
append to it).

Every decision is drawn from a counter-based stream keyed by (process key, loop number),
so a replay with the same seed makes the same decisions as long as the workload makes the
same sequence of ready queues (it does when its awaits do not depend on wall-clock time).

Python 3.8 syntax only.
"""
import os
import sys

from math import log1p as _log1p

import _racehunt_bootstrap as _b

_MAX_DEFER = 8               # iterations a task can be deferred by, at most

_settings = None             # _Settings when the loop layer perturbs, else None
_pins = None                 # pinned mode: {loop number: {iteration: [pin, ...]}} of this process
_check = "warn"              # [check].asyncio_warnings
_patched = False
_asyncio = None              # the asyncio package
_task_types = ()             # asyncio.Task and its pure-Python twin
_loops = None                # weakref.WeakSet of loops seen running
_loop_count = 0              # loops seen in this process, in order of their first iteration
_log = []                    # (loop number, iteration, kind, detail)
_counters = {"loop_iterations": 0, "loop_shuffles": 0, "loop_deferrals": 0}
_at_end = None               # task snapshot taken when asyncio.run() ended with tasks pending
_warnings_seen = 0


class _Settings(object):
    __slots__ = ("shuffle", "defer", "log_shuffle", "log_defer")

    def __init__(self, shuffle, defer):
        import math
        self.shuffle = shuffle
        self.defer = defer
        self.log_shuffle = math.log1p(-shuffle) if 0.0 < shuffle < 1.0 else None
        self.log_defer = math.log1p(-defer) if 0.0 < defer < 1.0 else None


class _LoopState(object):
    """One loop's decision stream: geometric gaps, so the hot path is a subtraction."""
    __slots__ = ("number", "key", "draws", "iteration", "shuffle_in", "defer_in", "pins",
                 "released", "__weakref__")

    def __init__(self, number):
        self.number = number
        self.pins = _pins.get(number) if _pins is not None else None
        self.released = []       # handles a deferral put back in this iteration
        self.key = _b._derive(_b._derive(_b._process_key, 0xA5), number)
        self.draws = 0
        self.iteration = 0
        settings = _settings or _Settings(0.0, 0.0)
        self.shuffle_in = self.gap(settings.shuffle, settings.log_shuffle)
        self.defer_in = self.gap(settings.defer, settings.log_defer)

    def bits(self):
        """The next 64-bit draw of this loop's stream."""
        out = _b._draw(self.key, self.draws)
        self.draws += 1
        return out

    def gap(self, p, log_q, out=None):
        """Events until the next chosen one: geometric with parameter p, at least 1, from
        the high 53 bits of a draw."""
        if p <= 0.0:
            return 1 << 62
        if log_q is None:
            return 1
        if out is None:
            out = self.bits()
        g = int(_log1p(-((out >> 11) * (1.0 / 9007199254740992.0))) / log_q) + 1
        return g if g > 0 else 1

    def permutation(self, n):
        """A random order of range(n): Fisher-Yates whose indices are the digits of draws
        in a mixed radix (one 64-bit draw serves up to 20 places; 20! < 2**64)."""
        order = list(range(n))
        r = self.bits()
        room = 1 << 64
        for i in range(n - 1, 0, -1):
            if room < i + 1:
                r, room = self.bits(), 1 << 64
            r, j = divmod(r, i + 1)
            room //= i + 1
            order[i], order[j] = order[j], order[i]
        return order


def _bounce(handle, left, loop, state):
    """The callback of a stand-in: one more iteration to wait, or the deferred handle goes
    back to the end of the ready queue (and is not deferred again there)."""
    if left > 1:
        loop._ready.append(_stand_in(handle, left - 1, loop, state))
    else:
        state.released.append(handle)
        loop._ready.append(handle)


def _stand_in(handle, left, loop, state):
    """A real asyncio Handle in the deferred handle's place: the loop runs it like any
    other (debug mode, exception handling, repr), in the deferred handle's context."""
    return _Handle(_bounce, (handle, left, loop, state), loop, getattr(handle, "_context", None))


_Handle = None               # asyncio.events.Handle


def _task_of(handle):
    """The task a ready handle resumes, or None (a stand-in's callback is a function)."""
    try:
        owner = handle._callback.__self__
    except Exception:
        return None
    if type(owner) in _task_types:
        return owner
    return owner if isinstance(owner, _task_types) else None


def _task_name(task):
    try:
        return task.get_name()
    except Exception:
        return "Task at 0x%x" % id(task)


_LOG_UNITS = 1000000         # decisions plus task names kept in memory for loop-<pid>.log
_log_units = 0
_log_dropped = 0


def _note(state, kind, detail, units=1):
    # Raw values; the text is made when the log is written.
    global _log_units, _log_dropped
    if _log_units + units <= _LOG_UNITS:
        _log_units += units
        _log.append((state.number, state.iteration, kind, detail))
    else:
        _log_dropped += 1


def _task_runs(items):
    """Runs of two or more adjacent handles that resume tasks: [[(place, task), ...], ...].
    A shuffle permutes within a run only, so no task ever resumes before a callback that
    was queued ahead of it."""
    runs, run = [], []
    for i, handle in enumerate(items):
        task = _task_of(handle)
        if task is not None:
            run.append((i, task))
        else:
            if len(run) > 1:
                runs.append(run)
            run = []
    if len(run) > 1:
        runs.append(run)
    return runs


def _perturb(loop, state, ready, n):
    """Applies the decisions that fall in this iteration; n = len(ready) >= 1. The ready
    queue is changed in place only: other threads may append to it meanwhile
    (call_soon_threadsafe, executor results)."""
    settings = _settings
    # Shuffle: counted over iterations with two or more ready handles.
    if n > 1 and settings.shuffle > 0.0:
        state.shuffle_in -= 1
        if state.shuffle_in <= 0:
            state.shuffle_in = state.gap(settings.shuffle, settings.log_shuffle)
            items = list(ready)
            changed = False
            for run in _task_runs(items[:n]):
                m = len(run)
                order = state.permutation(m)
                if order != list(range(m)):
                    for (place, _), k in zip(run, order):
                        ready[place] = items[run[k][0]]
                    changed = True
                    _note(state, "shuffle", [run[k][1].get_name() for k in order], m + 1)
            if changed:
                _counters["loop_shuffles"] += 1
    # Defer: counted over ready handles; a choice that falls on a handle that does not
    # resume a task, or on one a deferral has just put back, is not taken.
    if settings.defer > 0.0:
        released = state.released
        place = state.defer_in - 1
        while place < n:
            handle = ready[place]
            task = _task_of(handle)
            out = state.bits()
            if task is not None and not (released and any(h is handle for h in released)):
                # Iterations to wait: 1 + the trailing one bits of the draw's low 11 bits
                # (each with chance 1/2), at most _MAX_DEFER; the high bits give the gap.
                low, left = out & 0x7FF, 1
                while low & 1 and left < _MAX_DEFER:
                    low >>= 1
                    left += 1
                ready[place] = _stand_in(handle, left, loop, state)
                _counters["loop_deferrals"] += 1
                _note(state, "defer", (task.get_name(), left))
            place += state.gap(settings.defer, settings.log_defer, out)
        state.defer_in = place - n + 1


def _apply_pins(loop, state, ready, pinned):
    """Pinned mode (racehunt minimize, replay --pins): the decisions of the run the pins
    came from, found by task name in this iteration's ready queue (tasks of one name in
    queue order); nothing is drawn. A pin whose tasks are not ready, or not adjacent, is
    skipped: the run has gone another way."""
    for pin in pinned:
        items = list(ready)
        positions = {}
        tasks_at = {}
        for i, handle in enumerate(items):
            task = _task_of(handle)
            if task is not None:
                positions.setdefault(_clean(task.get_name()), []).append(i)
                tasks_at[i] = task
        if pin[0] == "shuffle":
            chosen = []
            for name in pin[1]:
                free = positions.get(name)
                if free:
                    chosen.append(free.pop(0))
            if len(chosen) < 2:
                continue
            places = sorted(chosen)
            if any(p not in tasks_at for p in range(places[0], places[-1] + 1)):
                continue
            for place, source in zip(places, chosen):
                ready[place] = items[source]
            _counters["loop_shuffles"] += 1
            _note(state, "shuffle", [tasks_at[p].get_name() for p in chosen], len(chosen) + 1)
        else:
            free = positions.get(pin[1])
            if not free:
                continue
            place = free[0]
            ready[place] = _stand_in(items[place], pin[2], loop, state)
            _counters["loop_deferrals"] += 1
            _note(state, "defer", (tasks_at[place].get_name(), pin[2]))


_last = None                 # (weakref to the loop of the last iteration, its state)


def _state_for(loop):
    global _last, _loop_count
    import weakref
    state = getattr(loop, "_racehunt_loop", None)
    if state is None:
        state = _LoopState(_loop_count)
        _loop_count += 1
        try:
            loop._racehunt_loop = state
        except Exception:
            pass
    _loops.add(loop)
    # One tuple, replaced whole: a loop in another thread reads either pair, never a mix.
    _last = (weakref.ref(loop), state)
    return state


def _raised_here(exc):
    """The exception came from racehunt's own code (an internal error), not from the
    workload (a signal handler's exception can surface in any Python code)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is None or tb.tb_frame.f_code.co_filename in _b._OUR_FILES


def _guarded(where, func, *args):
    """Runs racehunt's own part of a hook: an error of racehunt's becomes one warning; an
    exception of the workload's (a signal handler's) goes on as it would have."""
    try:
        return func(*args)
    except Exception as exc:
        if not _raised_here(exc):
            raise
        _b._internal_error(where, exc)


def _patch_loop(base_events):
    global _Handle
    _Handle = sys.modules["asyncio.events"].Handle
    orig = base_events.BaseEventLoop._run_once

    def _run_once(self):
        try:
            last = _last
            state = last[1] if (last is not None and last[0]() is self) else _state_for(self)
            state.iteration += 1
            _counters["loop_iterations"] += 1
            if _pins is not None:
                if state.pins:
                    pinned = state.pins.get(state.iteration)
                    if pinned:
                        _apply_pins(self, state, self._ready, pinned)
            elif _settings is not None:
                ready = self._ready
                n = len(ready)
                if n and (state.defer_in <= n or (n > 1 and state.shuffle_in <= 1)):
                    _perturb(self, state, ready, n)
                elif n:
                    state.defer_in -= n
                    if n > 1 and _settings.shuffle > 0.0:
                        state.shuffle_in -= 1
            if state.released:
                del state.released[:]
        except Exception as exc:
            if not _raised_here(exc):
                raise
            _b._internal_error("asyncio loop", exc)
        return orig(self)

    _run_once.__wrapped__ = orig
    base_events.BaseEventLoop._run_once = _run_once

    orig_handler = base_events.BaseEventLoop.call_exception_handler

    def call_exception_handler(self, context):
        _guarded("asyncio exception handler", _exception_context, context)
        return orig_handler(self, context)

    call_exception_handler.__wrapped__ = orig_handler
    base_events.BaseEventLoop.call_exception_handler = call_exception_handler


_UNRETRIEVED = ("Task exception was never retrieved", "Future exception was never retrieved")
_DESTROYED = "Task was destroyed but it is pending!"


def _exception_context(context):
    message = context.get("message") if isinstance(context, dict) else None
    if message in _UNRETRIEVED:
        exc = context.get("exception")
        task = context.get("future")
        fields = {"kind": "unretrieved-exception", "message": message}
        if isinstance(task, _task_types):
            fields["task"] = _task_name(task)
            coro = _coro_of(task)
            if coro is not None:
                fields["coroutine"] = _coro_name(coro)
        if exc is not None:
            fields["type"] = _b._qualified_type(type(exc))
            fields["exception"] = _b._exc_message(exc)
            frames = _b._tb_frames(getattr(exc, "__traceback__", None))
            _b._trim_frames(frames, fields)
        _warning_event(fields)
    elif message == _DESTROYED:
        task = context.get("task")
        fields = {"kind": "destroyed-pending", "message": message}
        if isinstance(task, _task_types):
            fields["task"] = _task_name(task)
            fields["frames"] = _task_frames(task)[0]
        _warning_event(fields)


def _warning_event(fields):
    global _warnings_seen
    _warnings_seen += 1
    if _warnings_seen <= 100:
        _b._emit("asyncio_warning", fields)


def _never_awaited(coro):
    fields = {"kind": "never-awaited", "coroutine": _coro_name(coro),
              "message": "coroutine '%s' was never awaited" % _coro_name(coro)}
    code = getattr(coro, "cr_code", None)
    if code is not None:
        fields["frames"] = [[_b._abs_file(code.co_filename), code.co_firstlineno, code.co_name]]
    _warning_event(fields)


def _patch_warnings():
    warnings = sys.modules.get("warnings")
    orig = getattr(warnings, "_warn_unawaited_coroutine", None) if warnings is not None else None
    if orig is None or getattr(orig, "__wrapped__", None) is not None:
        return

    def _warn_unawaited_coroutine(coro):
        _guarded("unawaited coroutine", _never_awaited, coro)
        return orig(coro)

    _warn_unawaited_coroutine.__wrapped__ = orig
    warnings._warn_unawaited_coroutine = _warn_unawaited_coroutine


def _patch_runners(asyncio):
    runners = sys.modules.get("asyncio.runners")
    orig = getattr(runners, "_cancel_all_tasks", None)
    if orig is None:
        return

    def remember(loop):
        global _at_end
        if _b._installed and asyncio.all_tasks(loop):
            _at_end = snapshot_loops(only=loop, reason="asyncio.run() ended")

    def _cancel_all_tasks(loop):
        # asyncio.run() ends (returned or raised) and is about to cancel what is still
        # pending: the last moment the tasks' stacks can be seen. Kept for a failure
        # report of this process.
        _guarded("asyncio.run end", remember, loop)
        return orig(loop)

    _cancel_all_tasks.__wrapped__ = orig
    runners._cancel_all_tasks = _cancel_all_tasks


def install(asyncio, config):
    """Patches the asyncio package (already imported) once."""
    global _patched, _asyncio, _task_types, _loops, _settings, _check
    if _patched:
        return
    import weakref
    _patched = True
    _asyncio = asyncio
    tasks = sys.modules.get("asyncio.tasks")
    types = [asyncio.Task]
    py_task = getattr(tasks, "_PyTask", None)
    if py_task is not None and py_task is not asyncio.Task:
        types.append(py_task)
    _task_types = tuple(types)
    _loops = weakref.WeakSet()
    section = config.get("asyncio") if isinstance(config.get("asyncio"), dict) else {}
    shuffle = _probability(section, "shuffle")
    defer = _probability(section, "defer")
    if shuffle > 0.0 or defer > 0.0:
        _settings = _Settings(shuffle, defer)
    _read_pins(section.get("pins"))
    checks = config.get("checks") if isinstance(config.get("checks"), dict) else {}
    _check = checks.get("asyncio_warnings") or "warn"
    _patch_loop(sys.modules["asyncio.base_events"])
    _patch_runners(asyncio)
    if _check != "ignore":
        _patch_warnings()


def _read_pins(entries):
    """config.json's asyncio.pins: [["<process key>", loop, iteration, "shuffle", [names]]
    or [..., "defer", name, k]]; names as loop-<pid>.log writes them."""
    global _pins
    if not isinstance(entries, list):
        return
    _pins = {}
    for entry in entries:
        try:
            key, number, iteration, kind = int(entry[0], 16), int(entry[1]), int(entry[2]), entry[3]
            if kind == "shuffle":
                pin = ("shuffle", [str(n) for n in entry[4]])
            elif kind == "defer":
                pin = ("defer", str(entry[4]), max(1, min(int(entry[5]), _MAX_DEFER)))
            else:
                raise ValueError(kind)
        except (TypeError, ValueError, IndexError):
            _b._warn("asyncio.pins entry %r is malformed; ignored" % (entry,))
            continue
        if key == _b._process_key:
            _pins.setdefault(number, {}).setdefault(iteration, []).append(pin)


def _probability(section, key):
    try:
        value = float(section.get(key) or 0.0)
    except (TypeError, ValueError):
        _b._warn("asyncio.%s %r is not a number; 0 is used" % (key, section.get(key)))
        return 0.0
    return min(max(value, 0.0), 1.0)


def after_fork():
    """A forked child numbers its loops and keeps its decisions from 0."""
    global _loop_count, _last, _at_end, _log_units, _log_dropped
    _loop_count = 0
    _last = None
    _log_units = _log_dropped = 0
    _at_end = None
    del _log[:]
    for key in _counters:
        _counters[key] = 0
    if _loops is not None:
        for loop in list(_loops):
            try:
                del loop._racehunt_loop
            except Exception:
                pass


def counters():
    """The layer's counters for the `exit` event: only when a loop ran."""
    if not _counters["loop_iterations"] and not _log:
        return {}
    return dict(_counters)


def at_exit():
    """Before the `exit` event: tasks destroyed only by the cyclic collector would report
    their unretrieved exceptions after racehunt's last event, or never; one collection
    brings the report forward."""
    if _check != "ignore" and _patched:
        import gc
        gc.collect()


_ESCAPE = {ord(c): "%%%02X" % ord(c) for c in "%,#\t\n\r\x0b\x0c "}


def _clean(name):
    """A task name as the loop log and pins write it: percent-escapes for the characters
    that separate fields there (%, comma, #, whitespace); "%-" for the empty name."""
    return str(name).translate(_ESCAPE) or "%-"


def write_log():
    """loop-<pid>.log: every decision of the loop layer (docs/PROTOCOL.md)."""
    if _b._run_dir is None or (not _log and not _counters["loop_iterations"]):
        return
    out = ["# racehunt-loop 1 key=%016x shuffle=%r defer=%r iterations=%d dropped=%d\n"
           % (_b._process_key, _settings.shuffle if _settings else 0.0,
              _settings.defer if _settings else 0.0, _counters["loop_iterations"], _log_dropped)]
    for number, iteration, kind, detail in _log:
        if kind == "shuffle":
            text = ",".join(_clean(name) for name in detail)
        else:
            text = "%s\t%d" % (_clean(detail[0]), detail[1])
        out.append("%d\t%d\t%s\t%s\n" % (number, iteration, kind, text))
    _b._write_atomically(os.path.join(_b._run_dir, "loop-%d.log" % _b._pid),
                         "".join(out).encode("utf-8", "replace"))


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
    return [[_b._abs_file(f.f_code.co_filename), f.f_lineno, f.f_code.co_name] for f in frames], frames


def _waiting_on(task, frames):
    """What a pending task waits for: another task, or the innermost library call it is
    suspended in (asyncio.Queue.get, asyncio.Event.wait, asyncio.sleep, ...)."""
    waiter = getattr(task, "_fut_waiter", None)
    if isinstance(waiter, _task_types):
        return {"expr": "task \"%s\" to finish" % _task_name(waiter), "type": "task",
                "task": id(waiter), "held_by": _task_name(waiter), "held_by_task": id(waiter)}
    children = getattr(waiter, "_children", None)       # asyncio.gather's future
    if isinstance(children, (list, tuple)):
        pending = [c for c in children if isinstance(c, _task_types) and not c.done()]
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
        if not code.co_filename.startswith(_b._OUR_DIR or "\0"):
            name = getattr(code, "co_qualname", None)
            if not name:
                owner = frame.f_locals.get("self") if type(frame.f_locals) is dict else None
                name = (type(owner).__name__ + "." + code.co_name) if owner is not None else code.co_name
            module = os.path.basename(code.co_filename)
            return {"expr": "%s() (%s:%d)" % (name, module, frame.f_lineno), "type": "future"}
    return {"expr": "a future: %s" % _b._safe_repr(waiter, 200), "type": "future"}


def _acquiring_async(frame):
    name = frame.f_code.co_filename
    return name.endswith(os.sep + "asyncio" + os.sep + "locks.py") and \
        frame.f_code.co_name in ("acquire", "__aenter__")


def snapshot_loops(only=None, reason=None):
    """Every loop this process ran that is still open: its thread, its pending tasks (name,
    coroutine stack outermost first, what each awaits, asyncio locks held from `async
    with` blocks), a wait-for cycle among them, and finished tasks whose exception nobody
    retrieved. [] when asyncio was never used."""
    if not _patched or _loops is None:
        return []
    import _racehunt_forensics as forensics
    loops = []
    for loop in ([only] if only is not None else list(_loops)):
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
                        item = {"name": _task_name(task), "type": _b._qualified_type(type(exc)),
                                "message": _b._exc_message(exc)}
                        _b._trim_frames(_b._tb_frames(exc.__traceback__), item)
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
    tasks_module = sys.modules.get("asyncio.tasks")
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
        for t in _asyncio.all_tasks(loop):
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
