"""racehunt's asyncio layer: seeded task-order perturbation, task forensics, asyncio checks.

Imported by the bootstrap once the workload has imported asyncio (never before: a process
that does not use asyncio pays nothing). docs/PROTOCOL.md ("asyncio") is the contract.

Perturbation. Every loop derived from asyncio.BaseEventLoop (the selector and proactor
loops, whether made by asyncio.run, a policy, a Runner's loop_factory or by hand) runs its
ready callbacks through BaseEventLoop._run_once, which is wrapped here. Before each
iteration, from the run's seed:
- *shuffle*: the ready handles that resume a task (a Task's step or wakeup) are permuted
  among the places they hold in the ready queue;
- *defer*: a ready handle that resumes a task is replaced by a stand-in that puts it back
  at the end of the queue, so the task runs one or more iterations later.
Other callbacks (loop.call_soon, a future's done callbacks, transports) are never moved
relative to each other: asyncio documents that call_soon callbacks run in the order they
were registered, and a program may rely on it. The order in which tasks resume is not
documented, so changing it changes timing only. A deferred handle still runs exactly
once, and a cancelled one is still skipped.

Every decision is drawn from a counter-based stream keyed by (process key, loop number),
so a replay with the same seed makes the same decisions as long as the workload makes the
same sequence of ready queues (it does when its awaits do not depend on wall-clock time).

Python 3.8 syntax only.
"""
import os
import sys

from math import log1p as _log1p

import _racehunt_bootstrap as _b

_LOG_LIMIT = 200000          # decisions kept per process in loop-<pid>.log
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
                 "__weakref__")

    def __init__(self, number):
        self.number = number
        self.pins = _pins.get(number) if _pins is not None else None
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


class _Deferred(object):
    """Stands in a ready queue for a handle that resumes a task, `left` iterations early."""
    __slots__ = ("handle", "left", "loop", "_cancelled")

    def __init__(self, handle, left, loop):
        self.handle = handle
        self.left = left
        self.loop = loop
        self._cancelled = False

    @property
    def _callback(self):
        # BaseEventLoop._run_once's debug mode names slow callbacks through this.
        return self.handle._callback

    def cancelled(self):
        return self.handle.cancelled()

    def _run(self):
        if self.left > 1:
            self.left -= 1
            self.loop._ready.append(self)
        else:
            self.loop._ready.append(self.handle)
            self.handle = None

    def __repr__(self):
        return "<racehunt deferred %r>" % (self.handle,)


def _task_of(handle):
    """The task a ready handle resumes, or None (also for a stand-in: it is moved once)."""
    if type(handle) is _Deferred:
        return None
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


def _note(state, kind, detail):
    # Raw values; the text is made when the log is written.
    if len(_log) < _LOG_LIMIT:
        _log.append((state.number, state.iteration, kind, detail))


def _perturb(loop, state, ready, n):
    """Applies the decisions that fall in this iteration; n = len(ready) >= 1."""
    settings = _settings
    # Shuffle: counted over iterations with two or more ready handles.
    if n > 1 and settings.shuffle > 0.0:
        state.shuffle_in -= 1
        if state.shuffle_in <= 0:
            state.shuffle_in = state.gap(settings.shuffle, settings.log_shuffle)
            items = list(ready)
            places = []
            tasks = []
            for i, handle in enumerate(items):
                task = _task_of(handle)
                if task is not None:
                    places.append(i)
                    tasks.append(task)
            m = len(places)
            if m > 1:
                order = state.permutation(m)
                if order != list(range(m)):
                    handles = [items[i] for i in places]
                    for place, k in zip(places, order):
                        items[place] = handles[k]
                    ready.clear()
                    ready.extend(items)
                    _counters["loop_shuffles"] += 1
                    _note(state, "shuffle", [tasks[k].get_name() for k in order])
    # Defer: counted over ready handles; a choice that falls on a handle that does not
    # resume a task is not taken.
    if settings.defer > 0.0:
        place = state.defer_in - 1
        while place < n:
            handle = ready[place]
            task = _task_of(handle)
            out = state.bits()
            if task is not None:
                # Iterations to wait: 1 + the trailing one bits of the draw's low 11 bits
                # (each with chance 1/2), at most _MAX_DEFER; the high bits give the gap.
                low, left = out & 0x7FF, 1
                while low & 1 and left < _MAX_DEFER:
                    low >>= 1
                    left += 1
                ready[place] = _Deferred(handle, left, loop)
                _counters["loop_deferrals"] += 1
                _note(state, "defer", (task.get_name(), left))
            place += state.gap(settings.defer, settings.log_defer, out)
        state.defer_in = place - n + 1


def _apply_pins(loop, state, ready, pinned):
    """Pinned mode (racehunt minimize, replay --pins): the decisions of the run the pins
    came from, found by task name in this iteration's ready queue; nothing is drawn."""
    for pin in pinned:
        items = list(ready)
        by_name = {}
        raw = {}
        for i, handle in enumerate(items):
            task = _task_of(handle)
            if task is not None:
                name = task.get_name()
                by_name.setdefault(_clean(name), i)
                raw.setdefault(_clean(name), name)
        if pin[0] == "shuffle":
            names = [n for n in pin[1] if n in by_name]
            places = sorted(by_name[n] for n in names)
            if len(places) < 2:
                continue
            handles = [items[by_name[n]] for n in names]
            for place, handle in zip(places, handles):
                items[place] = handle
            ready.clear()
            ready.extend(items)
            _counters["loop_shuffles"] += 1
            _note(state, "shuffle", [raw[n] for n in names])
        else:
            place = by_name.get(pin[1])
            if place is None:
                continue
            ready[place] = _Deferred(items[place], pin[2], loop)
            _counters["loop_deferrals"] += 1
            _note(state, "defer", (raw[pin[1]], pin[2]))


_last_loop = None            # weakref to the loop of the last iteration, and its state
_last_state = None


def _state_for(loop):
    global _last_loop, _last_state, _loop_count
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
    _last_loop = weakref.ref(loop)
    _last_state = state
    return state


def _patch_loop(base_events):
    orig = base_events.BaseEventLoop._run_once

    def _run_once(self):
        try:
            state = _last_state if (_last_loop is not None and _last_loop() is self) \
                else _state_for(self)
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
        except Exception as exc:
            _b._internal_error("asyncio loop", exc)
        return orig(self)

    _run_once.__wrapped__ = orig
    base_events.BaseEventLoop._run_once = _run_once

    orig_handler = base_events.BaseEventLoop.call_exception_handler

    def call_exception_handler(self, context):
        try:
            _exception_context(context)
        except Exception as exc:
            _b._internal_error("asyncio exception handler", exc)
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


def _patch_warnings():
    warnings = sys.modules.get("warnings")
    orig = getattr(warnings, "_warn_unawaited_coroutine", None) if warnings is not None else None
    if orig is None or getattr(orig, "__wrapped__", None) is not None:
        return

    def _warn_unawaited_coroutine(coro):
        try:
            fields = {"kind": "never-awaited", "coroutine": _coro_name(coro),
                      "message": "coroutine '%s' was never awaited" % _coro_name(coro)}
            code = getattr(coro, "cr_code", None)
            if code is not None:
                fields["frames"] = [[_b._abs_file(code.co_filename), code.co_firstlineno,
                                     code.co_name]]
            _warning_event(fields)
        except Exception as exc:
            _b._internal_error("unawaited coroutine", exc)
        return orig(coro)

    _warn_unawaited_coroutine.__wrapped__ = orig
    warnings._warn_unawaited_coroutine = _warn_unawaited_coroutine


def _patch_runners(asyncio):
    runners = sys.modules.get("asyncio.runners")
    orig = getattr(runners, "_cancel_all_tasks", None)
    if orig is None:
        return

    def _cancel_all_tasks(loop):
        # asyncio.run() ends (returned or raised) and is about to cancel what is still
        # pending: the last moment the tasks' stacks can be seen. Kept for a failure
        # report of this process.
        global _at_end
        try:
            if _b._installed and asyncio.all_tasks(loop):
                _at_end = snapshot_loops(only=loop, reason="asyncio.run() ended")
        except Exception as exc:
            _b._internal_error("asyncio.run end", exc)
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
    global _loop_count, _last_loop, _last_state, _at_end
    _loop_count = 0
    _last_loop = _last_state = None
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


_ESCAPE = {ord(c): "%%%02X" % ord(c) for c in "%,#\t\n\r "}


def _clean(name):
    """A task name as the loop log and pins write it: percent-escapes for the characters
    that separate fields there (%, comma, #, whitespace)."""
    return str(name).translate(_ESCAPE)


def write_log():
    """loop-<pid>.log: every decision of the loop layer (docs/PROTOCOL.md)."""
    if _b._run_dir is None or (not _log and not _counters["loop_iterations"]):
        return
    out = ["# racehunt-loop 1 key=%016x shuffle=%r defer=%r iterations=%d\n"
           % (_b._process_key, _settings.shuffle if _settings else 0.0,
              _settings.defer if _settings else 0.0, _counters["loop_iterations"])]
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
                    if not task.cancelled() and getattr(task, "_log_traceback", False):
                        exc = task.exception()
                        # exception() marked it retrieved; the workload did not.
                        try:
                            task._log_traceback = True
                        except Exception:
                            pass
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
