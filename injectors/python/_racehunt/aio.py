"""racehunt's asyncio layer, part one: seeded task-order perturbation (aio_tasks.py holds
the asyncio checks and the task forensics).

Imported by the installer once the workload has imported asyncio (never before: a process
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

from math import log1p as _log1p

from . import events
from . import protocol
from . import seeds
from . import state as _proc

_MAX_DEFER = 8               # iterations a task can be deferred by, at most

_settings = None             # _Settings when the loop layer perturbs, else None
_pins = None                 # pinned mode: {loop number: {iteration: [pin, ...]}} of this process
_patched = False
_asyncio = None              # the asyncio package
_task_types = ()             # asyncio.Task and its pure-Python twin
_loops = None                # weakref.WeakSet of loops seen running
_loop_count = 0              # loops seen in this process, in order of their first iteration
_log = []                    # (loop number, iteration, kind, detail)
_counters = {"loop_iterations": 0, "loop_shuffles": 0, "loop_deferrals": 0}


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
        self.key = seeds.derive(seeds.derive(_proc.process_key, protocol.STREAM_TAG_LOOP), number)
        self.draws = 0
        self.iteration = 0
        settings = _settings or _Settings(0.0, 0.0)
        self.shuffle_in = self.gap(settings.shuffle, settings.log_shuffle)
        self.defer_in = self.gap(settings.defer, settings.log_defer)

    def bits(self):
        """The next 64-bit draw of this loop's stream."""
        out = seeds.draw(self.key, self.draws)
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
        return seeds.geometric(out, log_q, _log1p)

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
    global _settings
    settings = _settings
    if settings is None:
        return
    if _proc.check_calm():
        _settings = None        # calm: the loop runs as asyncio runs it (state.check_calm)
        return
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
    return tb is None or tb.tb_frame.f_code.co_filename in _proc.our_files


def _guarded(where, func, *args):
    """Runs racehunt's own part of a hook: an error of racehunt's becomes one warning; an
    exception of the workload's (a signal handler's) goes on as it would have."""
    try:
        return func(*args)
    except Exception as exc:
        if not _raised_here(exc):
            raise

def _patch_loop(base_events):
    global _Handle
    _Handle = _proc.loaded("asyncio.events").Handle
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
            events.internal_error("asyncio loop", exc)
        return orig(self)

    _run_once.__wrapped__ = orig
    base_events.BaseEventLoop._run_once = _run_once


def install(asyncio, settings):
    """Patches the asyncio package (already imported) once; `settings` is a
    config.Asyncio."""
    global _patched, _asyncio, _task_types, _loops, _settings
    if _patched:
        return
    import weakref
    _patched = True
    _asyncio = asyncio
    tasks = _proc.loaded("asyncio.tasks")
    types = [asyncio.Task]
    py_task = getattr(tasks, "_PyTask", None)
    if py_task is not None and py_task is not asyncio.Task:
        types.append(py_task)
    _task_types = tuple(types)
    _loops = weakref.WeakSet()
    if settings.shuffle > 0.0 or settings.defer > 0.0:
        _settings = _Settings(settings.shuffle, settings.defer)
    _read_pins(settings.pins)
    _patch_loop(_proc.loaded("asyncio.base_events"))


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
            events.warn("asyncio.pins entry %r is malformed; ignored" % (entry,))
            continue
        if key == _proc.process_key:
            _pins.setdefault(number, {}).setdefault(iteration, []).append(pin)


def after_fork():
    """A forked child numbers its loops and keeps its decisions from 0."""
    global _loop_count, _last, _log_units, _log_dropped
    _loop_count = 0
    _last = None
    _log_units = _log_dropped = 0
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


_ESCAPE = {ord(c): "%%%02X" % ord(c) for c in "%,#\t\n\r\x0b\x0c "}


def _clean(name):
    """A task name as the loop log and pins write it: percent-escapes for the characters
    that separate fields there (%, comma, #, whitespace); "%-" for the empty name."""
    return str(name).translate(_ESCAPE) or "%-"


def write_log():
    """loop-<pid>.log: every decision of the loop layer (docs/PROTOCOL.md)."""
    if _proc.run_dir is None or (not _log and not _counters["loop_iterations"]):
        return
    out = ["# racehunt-loop 1 key=%016x shuffle=%r defer=%r iterations=%d dropped=%d\n"
           % (_proc.process_key, _settings.shuffle if _settings else 0.0,
              _settings.defer if _settings else 0.0, _counters["loop_iterations"], _log_dropped)]
    for number, iteration, kind, detail in _log:
        if kind == "shuffle":
            text = ",".join(_clean(name) for name in detail)
        else:
            text = "%s\t%d" % (_clean(detail[0]), detail[1])
        out.append("%d\t%d\t%s\t%s\n" % (number, iteration, kind, text))
    events.write_atomically(os.path.join(_proc.run_dir, protocol.LOOP_LOG % _proc.pid),
                         "".join(out).encode("utf-8", "replace"))


# ---------------------------------------------------------------------------------------
# Forensics: pending tasks of every loop, with their coroutine stacks and what they await.
