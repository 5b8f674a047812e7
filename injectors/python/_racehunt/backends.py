"""How yield points see the visits of focus code: a trace function per thread
(sys.settrace, Python <= 3.11, and 3.12+ without sys.monitoring) or sys.monitoring
(PEP 669, Python >= 3.12). Both count visits per thread and call Yields.take() on the
decided ones (yields.py). Python 3.8 syntax only.
"""
import sys
import _thread

from . import events
from . import hooks
from . import native
from . import state
from .jsonio import safe_repr
from .yields import Yields, parse_pins

_tls = _thread._local()


def setup(probability, granularity, focus, log_enabled, pins=None, trace=False, sites=0.0,
          semantics="native"):
    """Sets up yield points; state.yields stays None when no backend could start."""
    state.yields = Yields(probability, granularity, focus, log_enabled, parse_pins(pins), trace, sites,
                          semantics)
    main_stream = state.yields.new_stream(0)
    _tls.s = main_stream
    if sys.version_info >= (3, 12) and hasattr(sys, "monitoring"):
        if _install_monitoring():
            state.yields_mode = "monitoring"
        else:
            state.yields = None
        return
    if sys.gettrace() is not None:
        events.warn("a trace function is already set (%s); racehunt does not replace it, Python "
                    "yield points are off" % safe_repr(sys.gettrace(), 200))
        state.yields = None
        return
    # Native semantics are not enforced under sys.settrace: the trace function is Python
    # code called at every traced line, and its own first instruction is a point where
    # the interpreter switches threads whenever another one waits for the GIL, so the
    # switches move to the traced lines whatever the yields do (docs/SWITCH_POINTS.md,
    # measured there). Raising the switch interval to stop that starved threads that a
    # correct program waits for (false alarms: a fixed twin of bench/corpus failed 8/20
    # instead of 3/20), and tracing every instruction to reach mid-line points cost 2-3x.
    # So yields keep their granularity's visits here, as a free-threaded build's points,
    # unlabelled unless the scenario asked for "free-threaded" (yields_mode says which).
    if state.yields.native_only:
        state.yields.native_only = False
        state.yields.native_unenforced = True
    main_stream.tracer = _make_settrace_tracer(main_stream)
    state.yields.detach = _detach_settrace
    state.real_settrace = sys.settrace
    state.real_settrace(main_stream.tracer)
    sys.settrace = _guard_settrace
    state.yields_mode = "settrace"


def current_stream():
    try:
        return _tls.s
    except AttributeError:
        # A thread threading did not start (a _thread thread) or one that began before
        # we patched threading: its index is its first visit, not its creation order.
        stream = state.yields.new_stream(next(state.thread_counter))
        _tls.s = stream
        return stream


def thread_begins(thread, index):
    """A threading thread starts: its own stream, and its tracer in settrace mode."""
    stream = state.yields.new_stream(index)
    stream.name = thread.name
    _tls.s = stream
    if state.yields_mode == "settrace" and not state.calm:
        stream.tracer = _make_settrace_tracer(stream)
        if sys.gettrace() is None:
            state.real_settrace(stream.tracer)


def _detach_settrace():
    """Calm, settrace mode: this thread's trace function goes (one thread at a time: each
    thread detaches at its next decided visit). A trace function the workload set is
    left alone."""
    stream = getattr(_tls, "s", None)
    if stream is not None and sys.gettrace() is stream.tracer:
        state.real_settrace(None)


def after_fork():
    state.yields.after_fork(getattr(_tls, "s", None))


def guard_threading_settrace(threading):
    """In settrace mode, threading.settrace() of the workload is let through with a
    warning: the threads it starts then run without yield points."""
    if state.yields_mode != "settrace" or not hasattr(threading, "settrace"):
        return
    orig_threading_settrace = threading.settrace

    def settrace(func):
        events.warn("the workload called threading.settrace(%s); threads it starts run without "
                    "Python yield points" % safe_repr(func, 200), key="threading.settrace")
        return orig_threading_settrace(func)
    settrace.__wrapped__ = orig_threading_settrace
    threading.settrace = settrace


def check_main_tracer():
    """At exit, in settrace mode: say so when the main thread's trace function was
    replaced (the yield points stopped there)."""
    if state.yields_mode != "settrace" or state.calm:
        return
    stream = getattr(_tls, "s", None)
    current = sys.gettrace()
    if stream is not None and current is not stream.tracer and "settrace" not in state.warned:
        events.warn("the main thread's trace function was replaced (%s); Python yield "
                    "points stopped there" % safe_repr(current, 200), key="settrace")


def _make_settrace_tracer(stream):
    """The global trace function of one thread (Python <= 3.12 without sys.monitoring).

    Returning None for code outside focus means that code runs untraced; only focus
    frames get the local tracer, which counts visits and yields on the decided ones.
    """
    y = state.yields
    verdicts = y.verdicts
    compute = y.verdict
    take = y.take
    granularity = y.granularity

    if granularity == "call":
        def trace_call(frame, event, arg):
            filename = frame.f_code.co_filename
            v = verdicts.get(filename)
            if v is None:
                v = compute(filename)
            if v:
                stream.visits += 1
                stream.countdown -= 1
                if stream.countdown <= 0:
                    take(stream, filename, frame.f_lineno)
            return None
        return trace_call

    wanted = "opcode" if granularity == "opcode" else "line"
    # On a GIL build, whether the interpreter can switch threads right before the
    # instruction at f_lasti (native.py): asked only when a decision is due, and only
    # under free-threaded semantics here (it counts the yields elsewhere; see setup).
    points = native.points if y.gil and not y.native_unenforced else None

    if y.sites > 0:
        site_visits = y.site_visits
        site = y.site
        cap = y.SITE_VISITS
        by_offset = wanted == "opcode"

        def local(frame, event, arg):
            if event == wanted:
                stream.visits += 1
                code = frame.f_code
                key = (code, frame.f_lasti if by_offset else frame.f_lineno)
                if site_visits.get(key, 0) < cap:
                    site(stream, key, code.co_filename, frame.f_lineno,
                         points is None or frame.f_lasti in points(code))
                stream.countdown -= 1
                if stream.countdown <= 0:
                    take(stream, code.co_filename, frame.f_lineno, True,
                         points is None or frame.f_lasti in points(code))
            return local
    else:
        def local(frame, event, arg):
            if event == wanted:
                stream.visits += 1
                stream.countdown -= 1
                if stream.countdown <= 0:
                    take(stream, frame.f_code.co_filename, frame.f_lineno, True,
                         points is None or frame.f_lasti in points(frame.f_code))
            return local

    if wanted == "opcode":
        def trace_opcode(frame, event, arg):
            filename = frame.f_code.co_filename
            v = verdicts.get(filename)
            if v is None:
                v = compute(filename)
            if not v:
                return None
            frame.f_trace_opcodes = True
            frame.f_trace_lines = False
            return local
        return trace_opcode

    def trace_line(frame, event, arg):
        filename = frame.f_code.co_filename
        v = verdicts.get(filename)
        if v is None:
            v = compute(filename)
        return local if v else None
    return trace_line


def _line_of_offset(code, offset):
    try:
        for start, end, line in code.co_lines():
            if start <= offset < end:
                return line
    except Exception:
        pass
    return None


def _install_monitoring():
    """Python >= 3.12: sys.monitoring (PEP 669), one free tool id.

    PY_START is the only global event. For a code object outside focus its callback
    returns DISABLE, so that code never calls us again; for focus code it switches on
    LINE (or INSTRUCTION) events for that code object alone. The rest of the program
    runs at full speed.
    """
    mon = sys.monitoring
    tool = None
    for candidate in (4, 3):   # ids 0, 1, 2 and 5 are reserved for debuggers etc.
        if mon.get_tool(candidate) is None:
            try:
                mon.use_tool_id(candidate, "racehunt")
            except ValueError:
                continue
            tool = candidate
            break
    if tool is None:
        events.warn("no free sys.monitoring tool id (3 and 4 are taken); Python yield points are off")
        return False
    y = state.yields
    E = mon.events
    DISABLE = mon.DISABLE
    verdicts = y.verdicts
    compute = y.verdict
    take = y.take
    granularity = y.granularity
    tls = _tls
    current = current_stream
    traced = []     # code objects with local events on

    def detach():
        """Calm: every thread at once, sys.monitoring being process-wide."""
        mon.set_events(tool, 0)
        for code in traced:
            mon.set_local_events(tool, code, 0)
        del traced[:]
    hooks.add("calm", detach)

    if granularity == "call":
        def on_start(code, offset):
            filename = code.co_filename
            v = verdicts.get(filename)
            if v is None:
                v = compute(filename)
            if not v:
                return DISABLE
            try:
                stream = tls.s
            except AttributeError:
                stream = current()
            stream.visits += 1
            stream.countdown -= 1
            if stream.countdown <= 0:
                take(stream, filename, code.co_firstlineno)
            return None
        mon.register_callback(tool, E.PY_START, on_start)
    else:
        # With native semantics both granularities are the native instructions (see
        # _make_settrace_tracer); the others are disabled, so this costs little.
        by_offset = granularity == "opcode" or y.native_only
        local_event = E.INSTRUCTION if by_offset else E.LINE

        def on_start(code, offset):
            filename = code.co_filename
            v = verdicts.get(filename)
            if v is None:
                v = compute(filename)
            if v:
                mon.set_local_events(tool, code, local_event)
                traced.append(code)
            return DISABLE

        site_visits = y.site_visits
        site = y.site
        cap = y.SITE_VISITS
        # On a GIL build: the native points of a code object (native.py), by offset for
        # INSTRUCTION events and by line for LINE events. With native semantics the other
        # instructions and lines are disabled and are no visits: the callback is Python
        # code, and its own first instruction is a point where the interpreter may switch
        # threads, so calling it there would add the very switches native semantics rules
        # out. With free-threaded semantics it is asked only when a decision is due.
        points = native.points if y.gil else None
        lines = native.lines if y.gil else None
        native_only = y.native_only
        if by_offset and y.sites > 0:
            def on_local(code, offset):
                if native_only and offset not in points(code):
                    return DISABLE
                try:
                    stream = tls.s
                except AttributeError:
                    stream = current()
                stream.visits += 1
                key = (code, offset)
                if site_visits.get(key, 0) < cap:
                    site(stream, key, code.co_filename, _line_of_offset(code, offset),
                         points is None or offset in points(code))
                stream.countdown -= 1
                if stream.countdown <= 0:
                    take(stream, code.co_filename,
                         _line_of_offset(code, offset)
                         if stream.log is not None or y.trace is not None else None,
                         True, points is None or offset in points(code))
        elif by_offset:
            def on_local(code, offset):
                if native_only and offset not in points(code):
                    return DISABLE
                try:
                    stream = tls.s
                except AttributeError:
                    stream = current()
                stream.visits += 1
                stream.countdown -= 1
                if stream.countdown <= 0:
                    take(stream, code.co_filename,
                         _line_of_offset(code, offset)
                         if stream.log is not None or y.trace is not None else None,
                         True, points is None or offset in points(code))
        elif y.sites > 0:
            def on_local(code, line):
                try:
                    stream = tls.s
                except AttributeError:
                    stream = current()
                stream.visits += 1
                key = (code, line)
                if site_visits.get(key, 0) < cap:
                    site(stream, key, code.co_filename, line, lines is None or line in lines(code))
                stream.countdown -= 1
                if stream.countdown <= 0:
                    take(stream, code.co_filename, line, True, lines is None or line in lines(code))
        else:
            def on_local(code, line):
                try:
                    stream = tls.s
                except AttributeError:
                    stream = current()
                stream.visits += 1
                stream.countdown -= 1
                if stream.countdown <= 0:
                    take(stream, code.co_filename, line, True, lines is None or line in lines(code))

        mon.register_callback(tool, E.PY_START, on_start)
        mon.register_callback(tool, local_event, on_local)
    mon.set_events(tool, E.PY_START)
    return True


def _guard_settrace(func):
    """Replacement of sys.settrace while racehunt traces: warn, then let the workload win.

    Tools such as coverage or a debugger own the trace function when they set it; racehunt
    does not fight them, it only records that its yield points stop in that thread.
    """
    try:
        stream = getattr(_tls, "s", None)
        if func is None or stream is None or func is not stream.tracer:
            events.warn("the workload set its own trace function (sys.settrace(%s)); Python yield "
                        "points stop in the threads it covers" % safe_repr(func, 200),
                        key="settrace")
    except Exception:
        pass
    return state.real_settrace(func)
