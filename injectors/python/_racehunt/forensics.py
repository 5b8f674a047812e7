"""Stacks of every thread, with names, and which locks they wait for and hold.

Imported only when something went wrong (an uncaught exception, a failed check, a broken
invariant, or racehunt's dump signal before it kills a hung run), so that a passing run
never pays for it. Everything here works from the outside of the threads it describes:
sys._current_frames(), the thread objects threading knows, and the source of the frames.
Python 3.8 syntax only.

Lock relations are inferred, never asked of the locks (a `_thread.lock` does not know its
owner):
- a thread *waits for* the object of the `with X:` statement, or of the `X.acquire(...)`
  call, on the line its innermost frame of its own code is stopped at (the acquire itself
  runs in C and has no frame);
- a thread *holds* the object of every `with X:` statement whose body contains the line
  one of its frames is at;
- `Thread.join()` is a wait for the thread joined.
`X` is evaluated only when it is a name or a chain of attributes (`self.lock_a`,
`bank.accounts_lock`), so nothing with side effects is called. An `RLock` from `_thread`
names its owner in its repr, which is used when no `with` statement says who holds it.
"""
import os
import sys
import _thread

from . import events
from . import hooks
from . import protocol
from . import state
from .jsonio import dumps

_MAX_FRAMES_PER_THREAD = 200
_ast_cache = {}


def _frames(frame, skip_ours):
    out = []
    while frame is not None:
        code = frame.f_code
        if not (skip_ours and code.co_filename in state.our_files):
            out.append(frame)
        frame = frame.f_back
    out.reverse()
    return out


def _parse(filename):
    tree = _ast_cache.get(filename, False)
    if tree is not False:
        return tree
    tree = None
    try:
        import ast
        with open(filename, "rb") as f:
            tree = ast.parse(f.read(), filename)
    except Exception:
        tree = None
    _ast_cache[filename] = tree
    return tree


def _nodes_of(filename):
    """(with_nodes, acquire_calls) of a file: With statements with their line range, and
    `X.acquire(...)` calls with their line."""
    key = ("nodes", filename)
    cached = _ast_cache.get(key)
    if cached is not None:
        return cached
    withs, acquires = [], []
    tree = _parse(filename)
    if tree is not None:
        import ast
        for node in ast.walk(tree):
            if isinstance(node, (ast.With, getattr(ast, "AsyncWith", ast.With))):
                end = max(getattr(n, "end_lineno", None) or n.lineno for n in node.body)
                for item in node.items:
                    chain = _chain(item.context_expr)
                    if chain:
                        withs.append((node.lineno, node.body[0].lineno, end, chain))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "acquire":
                chain = _chain(node.func.value)
                if chain:
                    acquires.append((node.lineno, chain))
    _ast_cache[key] = (withs, acquires)
    return withs, acquires


def _chain(node):
    """['self', 'lock_a'] for `self.lock_a`; None unless a name or attribute chain."""
    import ast
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    parts.reverse()
    return parts


def _resolve(frame, chain):
    try:
        head = chain[0]
        local_vars = frame.f_locals
        # A dict, or 3.13's FrameLocalsProxy; a class body's own mapping could run code.
        plain = type(local_vars) is dict or type(local_vars).__name__ == "FrameLocalsProxy"
        if plain and head in local_vars:
            value = local_vars[head]
        elif head in frame.f_globals:
            value = frame.f_globals[head]
        else:
            value = frame.f_builtins[head] if isinstance(frame.f_builtins, dict) else None
        for attr in chain[1:]:
            # Instance attributes only: a property could run code.
            d = getattr(value, "__dict__", None)
            if not isinstance(d, dict) or attr not in d:
                return None
            value = d[attr]
        return value
    except Exception:
        return None


def _acquiring(frame):
    """A library frame that is part of acquiring a lock: threading's Python RLock and
    Condition, or controlled mode's lock and scheduler."""
    filename = frame.f_code.co_filename
    if filename in _CONTROL_FILES:
        return True
    return os.path.basename(filename) == "threading.py" and \
        frame.f_code.co_name in ("acquire", "__enter__", "_acquire_restore")


def _is_library(filename):
    return ("/site-packages/" in filename or "/dist-packages/" in filename
            or os.path.basename(filename).startswith("_racehunt_")
            or os.path.dirname(filename) == state.package_dir
            or filename.startswith(_STDLIB))


_STDLIB = os.path.dirname(os.__file__) + os.sep
# Controlled mode's lock and scheduler, where a thread blocks while it acquires a lock.
_CONTROL_FILES = tuple(os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
                       for name in ("control.py", "control_locks.py"))


def _lock_like(value):
    """Has acquire and release, looked up on the type (hasattr could run __getattr__)."""
    if value is None:
        return False
    try:
        mro = type(value).__mro__
    except Exception:
        return False
    names = set()
    for klass in mro:
        names.update(vars(klass))
    return "acquire" in names and "release" in names


def _describe(value, chain):
    kind = type(value).__module__ + "." + type(value).__qualname__
    return {"expr": ".".join(chain), "id": "0x%x" % id(value), "type": kind}


def _rlock_owner(value):
    """The owner's ident of a C RLock, from its repr ('<locked _thread.RLock object
    owner=140... count=1 at 0x...>'), else None."""
    if type(value) is not type(_thread.RLock()):
        return None
    try:
        text = repr(value)
    except Exception:
        return None
    mark = " owner="
    at = text.find(mark)
    if at < 0:
        return None
    digits = ""
    for ch in text[at + len(mark):]:
        if not ch.isdigit():
            break
        digits += ch
    owner = int(digits) if digits else 0
    return owner or None


def _join_target(frames):
    """The thread a Thread.join() at the top of the stack waits for, as a waits_for entry."""
    for frame in reversed(frames):
        if not frame.f_code.co_filename.endswith("threading.py"):
            return None
        if frame.f_code.co_name == "join":
            target = frame.f_locals.get("self")
            ident = getattr(target, "ident", None)
            if ident is None:
                return None
            return {"expr": "thread \"%s\" to finish" % getattr(target, "name", ident),
                    "thread": ident, "type": "join"}
    return None


def _is_stdlib(filename, *parts):
    """The standard library's file <parts> (threading.py, asyncio/locks.py), not a
    workload file that merely ends the same way (rwlocks.py)."""
    return filename.startswith(_STDLIB) and filename.endswith(os.sep + os.sep.join(parts))


def _condition_waited_on(frames):
    """ids of the Condition a thread waits on (and its lock): Condition.wait() releases
    them, so the enclosing `with cond:` does not hold them while the thread waits."""
    out = set()
    for frame in reversed(frames):
        code = frame.f_code
        if code.co_name == "wait" and (_is_stdlib(code.co_filename, "threading.py") or
                                       _is_stdlib(code.co_filename, "asyncio", "locks.py")):
            cond = frame.f_locals.get("self")
            if cond is not None and hasattr(type(cond), "notify"):
                out.add(id(cond))
                lock = getattr(cond, "__dict__", {}).get("_lock")
                if lock is not None:
                    out.add(id(lock))
        elif not (_is_stdlib(code.co_filename, "threading.py") or
                  _is_stdlib(code.co_filename, "asyncio", "locks.py")):
            break
    return out


def _relations(frames, acquiring=_acquiring):
    """(waits_for, holds): the lock (or thread) the innermost frame waits for, and the locks
    held by `with` blocks around the lines of the workload's frames. A thread blocked
    inside library code (a queue, a condition) is not said to wait for the library's
    private lock; Thread.join() is the one library wait that is named."""
    holds, waits = [], _join_target(frames)
    released = _condition_waited_on(frames)

    def workload(frame):
        filename = frame.f_code.co_filename
        return filename and not filename.startswith("<") and not _is_library(filename)
    # The frame a thread is "at" is its innermost frame of workload code: below it there may
    # only be the acquisition itself (threading's Python RLock, or controlled mode's lock,
    # which blocks in racehunt's scheduler).
    last = max([i for i, f in enumerate(frames) if workload(f)] or [-1])
    for i, frame in enumerate(frames):
        filename = frame.f_code.co_filename
        # Library code (stdlib, site-packages) is left out: its locks are private, and
        # parsing threading.py alone costs 20 ms.
        if not workload(frame):
            continue
        innermost = i == last and all(acquiring(f) for f in frames[i + 1:])
        withs, acquires = _nodes_of(events.abs_file(filename))
        line = frame.f_lineno
        for (with_line, body_start, body_end, chain) in withs:
            if body_start <= line <= body_end:
                value = _resolve(frame, chain)
                if _lock_like(value) and id(value) not in released:
                    holds.append(_describe(value, chain))
            elif with_line == line and innermost and waits is None:
                value = _resolve(frame, chain)
                if _lock_like(value):
                    waits = _describe(value, chain)
        if innermost and waits is None:
            for (call_line, chain) in acquires:
                if call_line == line:
                    value = _resolve(frame, chain)
                    if _lock_like(value):
                        waits = _describe(value, chain)
                        break
    return waits, holds


def snapshot(skip_current_ours=True, with_locks=False):
    """Every thread of this process: name, ident, native id, daemon, main, current, frames
    (innermost last); with_locks adds `waits_for` and `holds`."""
    me = _thread.get_ident()
    objects = events.thread_objects()
    threads = []
    raw = {}
    for ident, frame in sys._current_frames().items():
        thread = objects.get(ident)
        frames = _frames(frame, skip_ours=(ident == me and skip_current_ours))
        entry = {
            "name": thread.name if thread is not None else events.thread_name(ident),
            "ident": ident,
            "native_id": getattr(thread, "native_id", None) if thread is not None
            else (state.main_native_id if ident == state.main_ident else None),
            "daemon": bool(thread.daemon) if thread is not None else False,
            "main": ident == state.main_ident,
            "current": ident == me,
        }
        events.trim_frames([[events.abs_file(f.f_code.co_filename), f.f_lineno, f.f_code.co_name]
                         for f in frames], entry)
        threads.append(entry)
        raw[ident] = frames
    if with_locks:
        _add_locks(threads, raw)
    threads.sort(key=lambda e: (not e["current"], not e["main"], e["name"]))
    return threads


def _add_locks(threads, raw):
    by_ident = {t["ident"]: t for t in threads}
    owner_of = {}
    for t in threads:
        try:
            waits, holds = _relations(raw[t["ident"]])
        except Exception:
            waits, holds = None, []
        if waits is not None:
            t["waits_for"] = waits
        if holds:
            t["holds"] = holds
            for h in holds:
                owner_of.setdefault(h["id"], t["ident"])
    for t in threads:
        w = t.get("waits_for")
        if not w:
            continue
        if w.get("type") == "join":
            holder = w.get("thread")
        else:
            holder = owner_of.get(w["id"])
        if holder is None and "RLock" in w.get("type", ""):
            obj = _object_at(raw[t["ident"]], w)
            holder = _rlock_owner(obj) if obj is not None else None
        if holder is not None and holder in by_ident and holder != t["ident"]:
            w["held_by"] = by_ident[holder]["name"]
            w["held_by_ident"] = holder


def _object_at(frames, w):
    chain = w["expr"].split(".")
    for frame in reversed(frames):
        value = _resolve(frame, chain)
        if value is not None and "0x%x" % id(value) == w["id"]:
            return value
    return None


def wait_cycle(threads):
    """The first wait-for cycle among threads, as a list of thread entries, or []."""
    by_ident = {t["ident"]: t for t in threads}
    for start in threads:
        seen, path, t = set(), [], start
        while t is not None and t["ident"] not in seen:
            seen.add(t["ident"])
            path.append(t)
            holder = (t.get("waits_for") or {}).get("held_by_ident")
            t = by_ident.get(holder) if holder is not None else None
        if t is not None and t["ident"] in seen:
            cycle = path[path.index(t):]
            if len(cycle) > 1:
                return cycle
    return []


def write_pystacks(reason):
    """Writes pystacks-<pid>.json: every thread with its lock relations, and the wait-for
    cycle when there is one (see docs/PROTOCOL.md)."""
    threads = snapshot(with_locks=True)
    cycle = wait_cycle(threads)
    data = {"pid": os.getpid(), "reason": reason, "threads": threads,
            "cycle": [t["ident"] for t in cycle]}
    if hooks.loops_snapshot is not None:
        try:
            data["loops"] = hooks.loops_snapshot()
        except Exception as exc:
            events.warn("could not list the asyncio tasks: %s: %s" % (type(exc).__name__, exc))
    path = os.path.join(state.run_dir, protocol.PYSTACKS_FILE % os.getpid())
    events.write_atomically(path, dumps(data))
