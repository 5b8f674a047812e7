"""Python yield points: per thread and per visit of a focus line, whether to yield the GIL.

The decision for visit k of thread t depends only on (process key, t, k): each thread owns
a splitmix64 stream, and instead of drawing a number per visit the stream draws the
geometric gap to the next yield, so the hot path is one decrement (backends.py counts the
visits; focus.py says which code is in focus; tracelog.py writes the logs).

Drawn per visit, yields land where the visits are: in hot loops. Races in real code are
often in code that runs once (a first call, an initialisation), which a visit-rate of
0.01 almost never reaches. So each code site (a line, or an instruction at opcode
granularity) also yields at its own visits: visit n of a site (from 0, counted over the
process's threads) with chance `sites / (n + 1)`, drawn from the visiting thread's stream
at that thread's visit number. A site run once yields in a `sites` share of runs; a loop
line run 10^6 times gets about `sites * 4.6` yields from its first SITE_VISITS visits
and nothing more. A site yield is logged like any other, by thread and visit, so pins
replay it. In controlled
mode every visit is a scheduling point of control.py instead. Python 3.8 syntax only.
"""
import time
import _thread

from . import events
from . import protocol
from . import seeds
from . import state
from . import tracelog
from .focus import Focus


class Stream(object):
    """One thread's seeded decision stream and counters."""

    __slots__ = ("index", "key", "draws", "countdown", "visits", "yields", "log", "tracer", "name",
                 "next_at", "site_key")

    def __init__(self, index):
        self.tracer = None
        self.name = "MainThread" if index == 0 else ""
        self.reset(index)

    def reset(self, index):
        y = state.yields
        self.index = index
        self.key = seeds.derive(state.process_key, index)
        self.site_key = seeds.derive(self.key, protocol.STREAM_TAG_SITES)
        self.draws = 0
        self.visits = 0
        self.yields = 0
        self.log = [] if (y is not None and y.log_enabled) else None
        self.countdown = y.gap(self) if y is not None else 1 << 62
        self.next_at = self.countdown
        if y is not None and y.trace is not None:
            self.countdown = 1      # tracing: take() sees every visit


class Yields(object):
    """Decides, per thread and per visit of a focus line, whether to yield the GIL."""

    LOG_LIMIT = 200000      # entries kept per thread in yields-<pid>.log
    SLEEP_SHARE = 0.5       # of the elapsed time, at most, spent in yields
    HAND_OVER_LIMIT = 0.002     # seconds a pinned yield waits for another thread to move
    budget_hits = 0         # decided yields skipped because the budget was spent

    SITE_VISITS = 100       # visits of a site that may draw a site yield

    def __init__(self, probability, granularity, focus, log_enabled, pins=None, trace=False, sites=0.0,
                 semantics="native"):
        import math
        import sys
        # A GIL build switches threads only at its own points (native.py). "native": the
        # backends make visits of those points only (sys.monitoring; see backends.setup
        # for sys.settrace); "free-threaded": every visit, and take() counts the yields
        # elsewhere (a failure after one may need a free-threaded build).
        is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
        self.gil = is_gil_enabled is None or bool(is_gil_enabled())
        self.native_only = self.gil and semantics == "native"
        self.non_native = 0     # yields taken where a GIL build never switches
        # Native semantics asked for but not enforced (the settrace backend, see there).
        self.native_unenforced = False
        # Tracing (replay of pins): every visit of focus code, see tracelog.Trace.
        self.trace = tracelog.Trace() if trace else None
        self.log1p = math.log1p
        # Pinned mode (racehunt minimize, replay --pins): yield only at the listed visits,
        # {process key: {thread index: sorted visits}}; nothing is drawn.
        self.pins = pins
        if pins is not None:
            import bisect
            self.bisect = bisect.bisect_right
        self.probability = probability
        self.granularity = granularity
        # Site yields: off with pins (only the pinned visits yield) and for "call".
        self.sites = sites if (pins is None and not trace and granularity != "call") else 0.0
        self.site_visits = {}   # (code, line or offset) -> visits so far, up to SITE_VISITS
        # Visit n of a site yields when the thread's site draw is below thresholds[n].
        self.site_thresholds = [int(self.sites / (n + 1) * 18446744073709551615)
                                for n in range(self.SITE_VISITS)] if self.sites > 0 else []
        self.site_yields = 0
        self.log_enabled = bool(log_enabled)
        self.denominator = math.log1p(-probability) if probability < 1.0 else None
        self.focus = Focus(focus)
        self.verdicts = self.focus.verdicts
        self.verdict = self.focus.verdict
        self.streams = []
        self.sleep = time.sleep
        self.clock = time.perf_counter
        self.other_threads = _thread._count
        # Budget: yields may take at most SLEEP_SHARE of the time since set-up; past it a
        # yield point does nothing. Without it, opcode yield points in a hot loop slowed a
        # correct program (inline-attr-increment-fixed, 0.15 s plain) to over 20 s, past
        # its timeout: a false alarm made by racehunt.
        self.t0 = self.clock()
        self.slept = 0.0
        # Set by the backend: stops the yield points of the calling thread (calm).
        self.detach = None

    def gap(self, stream):
        """Visits until the next yield: geometric with parameter p, at least 1; with pins,
        up to the next pinned visit of this thread."""
        if self.pins is not None:
            visits = self.pins.get(state.process_key, {}).get(stream.index)
            if visits:
                i = self.bisect(visits, stream.visits)
                if i < len(visits):
                    return visits[i] - stream.visits
            return 1 << 62
        if self.denominator is None:
            return 1
        if self.denominator == 0.0:
            return 1 << 62          # probability 0: only site yields, if any
        out = seeds.draw(stream.key, stream.draws)
        stream.draws += 1
        return seeds.geometric(out, self.denominator, self.log1p)

    def new_stream(self, index):
        stream = Stream(index)
        self.streams.append(stream)
        return stream

    def site(self, stream, key, filename, line, native=True):
        """A visit of a code site (key) among its first SITE_VISITS: yield when its draw
        says so. Called by the backends only while the site has visits left to draw."""
        visits = self.site_visits
        n = visits.get(key, 0)
        if n >= self.SITE_VISITS:
            return
        visits[key] = n + 1
        if seeds.draw(stream.site_key, stream.visits) < self.site_thresholds[n]:
            self.site_yields += 1
            self.take(stream, filename, line, redraw=False, native=native)

    def take(self, stream, filename, line, redraw=True, native=True):
        """Yield the GIL at a decided visit, then draw the next gap (a site yield keeps the
        gap it had). `native`: the visit is one where the interpreter can switch threads
        by itself; a yield elsewhere is counted (free-threaded semantics: the harness
        labels a failure after one). With native semantics the backends make visits of
        native points only."""
        if state.dumping:
            return
        control = state.control
        if control is not None:
            # Controlled mode: every visit of a focus line is a scheduling point.
            stream.countdown = 1
            t = control.me()
            if t is None and not control.threads and _thread.get_ident() == state.main_ident:
                t = control.adopt_main("MainThread")
            if t is not None:
                if not native:
                    self.non_native += 1
                control.point(t, filename, line)
            return
        if state.check_calm():
            # Past the timeout and busy: the harness gives the run a grace period without
            # perturbation. No more decisions in this thread, and no more tracing.
            stream.countdown = 1 << 62
            stream.next_at = 1 << 62
            if self.detach is not None:
                self.detach()
            return
        trace = self.trace
        if trace is not None:
            # Called at every visit; the decision falls at visit next_at.
            trace.visit(stream.index, filename, line)
            if stream.visits < stream.next_at:
                return
            stream.next_at = stream.visits + self.gap(stream)
        stream.yields += 1
        log = stream.log
        if log is not None and len(log) < self.LOG_LIMIT:
            log.append((stream.visits, filename, line))
        if trace is None and redraw:
            stream.countdown = self.gap(stream)
        # With no other thread there is nobody to yield to, and the yield point does
        # nothing: a sleep(0) would only add a GIL release, and the shim's perturbation
        # of it, to single-threaded code (an asyncio program's deadlines then expire
        # under racehunt alone: bench/corpus, the semaphore entry's fixed twin).
        if not self.other_threads():
            return
        # sleep(0) releases the GIL, but the releasing thread usually takes it back before
        # a woken waiter gets a CPU (measured: no lost update at all on a busy 2-core
        # machine). A real sleep of 1 us, which the kernel rounds up to its timer slack
        # (about 50 us), lets the other threads run.
        # A yield costs more than its sleep: getting the GIL back can take up to a switch
        # interval. All of it counts against the budget; past the budget the yield point
        # does nothing.
        clock = self.clock
        start = clock()
        if self.slept > self.SLEEP_SHARE * (start - self.t0):
            self.budget_hits += 1
            return
        if not native:
            self.non_native += 1
        if trace is not None:
            trace.mark_yield(stream.index, filename, line, self.pins is not None)
        if self.pins is not None:
            self.hand_over(stream)
        else:
            self.sleep(1e-6)
        self.slept += clock() - start

    def hand_over(self, stream):
        """A pinned yield (minimize, replay --pins): a few pinned yields stand in for the
        hundreds of the run they came from, so each one makes sure the hand-over happens.
        It sleeps in short steps until another thread has run focus code, or up to
        HAND_OVER_LIMIT (the others may be blocked, or outside focus)."""
        def others():
            return sum(s.visits for s in self.streams if s is not stream)
        before = others()
        deadline = self.clock() + self.HAND_OVER_LIMIT
        while True:
            self.sleep(1e-6)
            if others() != before or self.clock() >= deadline:
                return

    def counters(self):
        visits = 0
        yields = 0
        for stream in list(self.streams):
            visits += stream.visits
            yields += stream.yields
        return visits, yields

    def after_fork(self, stream):
        """In a forked child: its streams start again from the forking thread's, index 0."""
        if self.trace is not None:
            self.trace.reset()
        del self.streams[:]
        if stream is not None:
            stream.reset(0)
            self.streams.append(stream)

    def write_log(self):
        tracelog.write_yields_log(self.streams)

    def write_trace(self):
        if self.trace is not None:
            self.trace.write(self.streams)


def parse_pins(entries):
    """config.json's yields.pins, [["<process key hex>", thread, visit], ...], as
    {process key: {thread: sorted visits}}; None when there are none (not pinned)."""
    if not isinstance(entries, list):
        return None
    pins = {}
    for entry in entries:
        try:
            key, thread, visit = int(entry[0], 16), int(entry[1]), int(entry[2])
        except (TypeError, ValueError, IndexError):
            events.warn("yields.pins entry %r is malformed; ignored" % (entry,))
            continue
        pins.setdefault(key, {}).setdefault(thread, []).append(visit)
    for threads in pins.values():
        for visits in threads.values():
            visits.sort()
    return pins
