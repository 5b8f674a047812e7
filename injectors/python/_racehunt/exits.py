"""The end of a process: `main_done` when the main module is done, then the scenario's
invariants and memory check once the threads were joined, then the `exit` event with the
counters of every layer. Python 3.8 syntax only.
"""

from . import events
from . import hooks
from . import state
from .jsonio import safe_repr

invariants = []
memory_limit = None          # [check].max_memory_growth in bytes, root process only


def write_main_done(threading):
    state.main_done_written = True
    alive = []
    if threading is not None:
        try:
            main = threading.main_thread()
            for t in threading.enumerate():
                if t is main or t.daemon or not t.is_alive():
                    continue
                alive.append({"name": t.name, "ident": t.ident,
                              "native_id": getattr(t, "native_id", None), "daemon": False})
        except Exception as exc:
            events.warn("could not list threads at main_done: %s: %s" % (type(exc).__name__, exc))
    events.emit("main_done", {"threads": alive})


def _check_memory():
    """[check].max_memory_growth: Python memory still allocated when the main module has
    finished and its threads were joined, counted by tracemalloc from start-up; the
    `memory` event gives the total and the top allocation sites."""
    import tracemalloc
    if not tracemalloc.is_tracing():
        events.warn("max_memory_growth was not checked: the workload stopped tracemalloc")
        return
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    ours = set(state.our_files)
    snapshot = snapshot.filter_traces([tracemalloc.Filter(False, f) for f in ours] +
                                      [tracemalloc.Filter(False, tracemalloc.__file__)])
    stats = snapshot.statistics("lineno")
    total = sum(s.size for s in stats)
    top = []
    for s in stats[:10]:
        frame = s.traceback[0]
        top.append([events.abs_file(frame.filename), frame.lineno, s.size, s.count])
    events.emit("memory", {"traced": total, "limit": memory_limit,
                           "exceeded": total > memory_limit, "top": top})


def after_join():
    if state.role == "root" and memory_limit is not None:
        try:
            _check_memory()
        except Exception as exc:
            events.warn("max_memory_growth could not be checked: %s: %s" % (type(exc).__name__, exc))
    if state.role != "root" or not invariants:
        return
    main = state.loaded("__main__")
    namespace = getattr(main, "__dict__", None)
    if namespace is None:
        namespace = {}
    for expr in invariants:
        fields = {"expr": expr}
        if not isinstance(expr, str):
            fields.update(ok=False, error="TypeError: invariant is not a string")
            events.emit("invariant", fields)
            continue
        try:
            # A code object, not the string: eval of a string goes through
            # PyRun_StringFlags, which makes the interpreter forget that the main module
            # ended with an uncaught KeyboardInterrupt (it would exit 1, not by SIGINT).
            value = eval(compile(expr, "<invariant>", "eval"), namespace)
        except Exception as exc:
            fields["ok"] = False
            fields["error"] = "%s: %s" % (type(exc).__name__, events.exc_message(exc))
        else:
            fields["value"] = safe_repr(value)
            try:
                fields["ok"] = bool(value)
            except Exception as exc:
                fields["ok"] = False
                fields["error"] = "%s: %s" % (type(exc).__name__, events.exc_message(exc))
        if not fields.get("ok"):
            fields["threads"] = events.all_threads()
            events.add_loops(fields)
        events.emit("invariant", fields)


def counters():
    """The Python layers' counters, for the `exit` event (and `counters` on a dump)."""
    result = {"yield_points": 0, "yields": 0}
    for source in hooks.each("counters"):
        result.update(source())
    return result


def at_exit():
    try:
        for hook in hooks.each("before_exit"):
            hook()
        if not state.main_done_written:
            # threading was never imported (or its _shutdown was not reached): the main
            # module has returned all the same, and no threading thread can be alive.
            write_main_done(state.loaded("threading") if state.threading_patched else None)
            after_join()
        for hook in hooks.each("exit"):
            hook()
        # Names of every thread that ran, by native id: the harness names the shim's
        # decisions with them (the thread map only holds the live ones).
        seen = dict(state.names_seen)
        if state.main_native_id is not None:
            seen.setdefault(state.main_native_id, "MainThread")
        result = counters()
        for hook in hooks.each("exit_late"):
            hook()
        fields = {"counters": result, "threads_seen": [[tid, name] for tid, name in seen.items()]}
        if state.yields is not None:
            fields["focus_unmatched"] = state.yields.focus.unmatched()
        events.emit("exit", fields)
    except Exception as exc:
        events.internal_error("exit", exc)
