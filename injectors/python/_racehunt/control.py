"""racehunt's controlled mode: one Python thread of the workload runs at a time.

Loaded by the installer only when config.json asks for it (`control`). Every thread the
workload starts through `threading` is managed: it runs only while it holds the turn, and
hands the turn over at scheduling points --

- every line of focus code (the same tracer as the yield points, `take` at every visit),
- acquiring and releasing a lock made by `threading` (Lock, RLock, and through them
  Condition, Event, Semaphore, Barrier, queue.Queue),
- starting and joining a thread, and `time.sleep`.

Which thread runs next is chosen by a seeded strategy: `random` (uniform over the threads
that can run) or `pct` (probabilistic concurrency testing: random priorities, depth - 1
priority change points). A thread that would block (a lock held by another thread, a join,
a sleep) hands over instead of blocking, so the scheduler never deadlocks itself. Time is
virtual: a sleep or a timeout ends when no other thread can run, which keeps timed code
deterministic. When every managed thread waits and no timeout is pending, that is a real
deadlock: the scheduler says so (event `controlled_deadlock`) and leaves the threads
blocked, so the run ends as a hang with its dump.

Control can be lost: a thread may block where racehunt cannot see (I/O, a C extension, a
lock it did not create) while holding the turn. Waiting threads watch for that: when the
turn holder reaches no scheduling point for `stall` seconds, the scheduler gives up,
records `control_lost`, releases every thread and the run goes on in noise mode.

The schedule (one line per scheduling point, with the switches) is written to
`control-<pid>.log`, so that a failing run can be read step by step.

The locks and threads of `threading` are routed here by control_locks.py; the table of
what each line reads and writes, shown under the schedule, is access.py's. Standard
library only; nothing here allocates in a signal handler or imports threading.
"""
import _thread

from . import seeds
from .access import line_accesses


class _T(object):
    """One managed thread."""

    __slots__ = ("index", "name", "ident", "gate", "state", "wait", "deadline", "timed_out",
                 "priority", "steps")

    def __init__(self, index, name):
        self.index = index
        self.name = name
        self.ident = None
        self.gate = _thread.allocate_lock()
        self.gate.acquire()          # closed: the thread waits here for its turn
        self.state = "new"           # new, runnable, waiting, done
        self.wait = None             # ("lock", lock) / ("join", _T) / ("sleep", None)
        self.deadline = None         # virtual time at which a wait times out
        self.timed_out = False
        self.priority = 0
        self.steps = 0


class Scheduler(object):
    LOG_LIMIT = 200000

    def __init__(self, seed, strategy, depth, pct_steps, max_steps, stall, emit, warn):
        self.max_steps = max(1, int(max_steps))
        self.mutex = _thread.allocate_lock()
        self.seed = seed & seeds.MASK
        self.draws = 0
        self.strategy = strategy
        self.depth = max(1, int(depth))
        self.stall = stall
        self.emit = emit
        self.warn = warn
        self.threads = []            # managed threads, by index
        self.by_ident = {}
        self.current = None          # the thread holding the turn
        self.steps = 0
        self.switches = 0
        self.vclock = 0.0
        self.labels = 0
        self.lost = None             # why control was lost, once it was
        self.deadlocked = False
        self.log = []
        self.raw = _thread._local()  # raw.on: this thread's lock calls bypass the scheduler
        # PCT: change points are steps at which the running thread drops below everyone,
        # uniform over the run's expected length. That length is not known in advance, so
        # each run draws it log-uniformly from 10 to `pct_steps` (a portfolio over runs).
        self.change_points = []
        if strategy == "pct":
            import math
            span = 10.0 * math.exp(self._rand(1 << 30) / float(1 << 30) * math.log(max(pct_steps, 11) / 10.0))
            self.change_points = sorted(self._rand(int(span)) + 1 for _ in range(self.depth - 1))
        self.next_low = 0

    # -- randomness: a counter-based splitmix64 stream of the run seed -------------------
    def _rand(self, n):
        self.draws += 1
        return seeds.draw(self.seed, self.draws - 1) % n

    # -- membership ----------------------------------------------------------------------
    def me(self):
        if self.lost is not None or getattr(self.raw, "on", False):
            return None
        return self.by_ident.get(_thread.get_ident())

    def adopt_main(self, name):
        """The thread that reaches the first scheduling point of the run (the main thread)
        starts holding the turn."""
        with self.mutex:
            if self.threads:
                return self.by_ident.get(_thread.get_ident())
            t = self._new(name)
            t.ident = _thread.get_ident()
            t.state = "runnable"
            self.by_ident[t.ident] = t
            self.current = t
            return t

    def _new(self, name):
        t = _T(len(self.threads), name)
        if self.strategy == "pct":
            # Distinct initial priorities above every change point's: d, d+1, ... in a
            # seeded random order (inserted at a random rank among those so far).
            t.priority = self.depth + self._rand(1 << 30)
        self.threads.append(t)
        return t

    def register(self, name):
        """Called in the starting thread, before the new thread exists."""
        with self.mutex:
            t = self._new(name)
            t.state = "runnable"
            return t

    def enter(self, t):
        """The new thread, at the start of its run(): wait for the turn."""
        t.ident = _thread.get_ident()
        with self.mutex:
            self.by_ident[t.ident] = t
        self._wait_turn(t)

    def leave(self, t):
        """A managed thread is done (its run() returned or raised): hand the turn over."""
        if self.lost is not None:
            return
        with self.mutex:
            t.state = "done"
            # What the thread runs after its run() (threading's clean-up) is not managed.
            self.by_ident.pop(t.ident, None)
            self._log(t, None, None, "done")
            if self.current is t:
                self._pass_turn(t)

    def retire(self):
        """The calling thread leaves the scheduler for good (the main thread, when its
        module is done and it goes on to join the others)."""
        t = self.by_ident.get(_thread.get_ident())
        if t is not None:
            self.leave(t)

    # -- scheduling points ---------------------------------------------------------------
    def point(self, t, filename, line):
        """A line of focus code in thread t (which holds the turn)."""
        self._step(t, filename, line, "line")

    def sync_point(self, t, what):
        self._step(t, None, None, what)

    def _step(self, t, filename, line, kind):
        if self.lost is not None:
            return
        with self.mutex:
            if self.current is not t:
                self._lose("thread %r ran without the turn (%s held it): it was not started "
                           "through threading, or something released it"
                           % (t.name, self.current.name if self.current else "nobody"))
                return
            self.steps += 1
            t.steps += 1
            if self.steps > self.max_steps:
                self._lose("the run reached max_steps = %d scheduling points; the rest of it is "
                           "not controlled, so that it ends within its time limit" % self.max_steps)
                return
            self._log(t, filename, line, kind)
            if self.change_points and self.next_low < len(self.change_points) \
                    and self.steps >= self.change_points[self.next_low]:
                self.next_low += 1
                t.priority = self.depth - self.next_low   # below every initial priority
            nxt = self._choose()
            if nxt is None or nxt is t:
                return
            self._give(nxt)
        self._wait_turn(t)

    # -- waiting -------------------------------------------------------------------------
    def block(self, t, wait, timeout):
        """Thread t cannot go on (a lock held elsewhere, a join, a sleep): hand the turn
        over until its wait is over. Returns False when the wait timed out (virtual time)."""
        if self.lost is not None:
            return None
        with self.mutex:
            t.state = "waiting"
            t.wait = wait
            t.timed_out = False
            t.deadline = None if timeout is None or timeout < 0 else self.vclock + timeout
            self._log(t, None, None, "wait " + self._describe_wait(wait))
            if self.current is t:
                self._pass_turn(t)
        self._wait_turn(t)
        with self.mutex:
            t.state = "runnable"
            t.wait = None
            t.deadline = None
            return not t.timed_out

    QUANTUM = 1e-6   # virtual seconds per scheduling point

    def _can_go(self, t):
        if t.state == "runnable":
            return True
        if t.state != "waiting":
            return False
        if t.deadline is not None and t.deadline <= self.vclock:
            return True
        kind, obj = t.wait
        if kind == "lock":
            return not obj.locked()
        if kind == "join":
            return obj.state == "done"
        return False   # a sleep: only when virtual time reaches it

    def _choose(self):
        self.vclock += self.QUANTUM
        ready = [t for t in self.threads if self._can_go(t)]
        if not ready:
            # Nobody can run: virtual time jumps to the earliest timeout or wake-up.
            timed = [t for t in self.threads if t.state == "waiting" and t.deadline is not None]
            if not timed:
                return None
            self.vclock = max(self.vclock, min(t.deadline for t in timed))
            ready = [t for t in self.threads if self._can_go(t)]
        if self.strategy == "pct":
            nxt = max(ready, key=lambda t: (t.priority, -t.index))
        else:
            nxt = ready[self._rand(len(ready))]
        if nxt.state == "waiting":
            kind, obj = nxt.wait
            done = (kind == "lock" and not obj.locked()) or (kind == "join" and obj.state == "done")
            nxt.timed_out = kind != "sleep" and not done
        return nxt

    def now(self):
        """Virtual seconds added to the clocks the workload reads."""
        return self.vclock

    def _pass_turn(self, t):
        """t gives the turn up (it waits or is done): to whoever can go, else a deadlock."""
        nxt = self._choose()
        if nxt is None:
            self.current = None
            if any(x.state == "waiting" for x in self.threads):
                self._deadlock()
            return
        self._give(nxt)

    def _give(self, nxt):
        if self.current is not nxt:
            self.switches += 1
        self.current = nxt
        nxt.gate.release()

    def _wait_turn(self, t):
        """Block on t's gate until it is given the turn; watch for a stalled holder."""
        last = (self.steps, self.switches)
        stalled = 0.0
        while True:
            if t.gate.acquire(True, 0.25):
                return
            if self.lost is not None:
                return
            now = (self.steps, self.switches)
            if now != last or self.current is None or self.deadlocked:
                last = now
                stalled = 0.0
                continue
            stalled += 0.25
            if stalled >= self.stall:
                with self.mutex:
                    if (self.steps, self.switches) == last and self.lost is None:
                        holder = self.current
                        self._lose("thread %r held the turn for %.1f s without reaching a "
                                   "scheduling point: it is blocked or busy where racehunt "
                                   "cannot see (I/O, a C extension, a lock not made by "
                                   "threading)" % (holder.name if holder else "?", self.stall))
                if self.lost is not None:
                    return

    def _lose(self, why):
        """Give up control: every thread runs freely from now on (noise mode)."""
        if self.lost is not None:
            return
        self.lost = why
        for t in self.threads:
            if t.gate.locked():
                try:
                    t.gate.release()
                except Exception:
                    pass
        try:
            self.emit("control_lost", {"reason": why, "step": self.steps})
            self.warn("controlled mode lost control at step %d and went on in noise mode: %s"
                      % (self.steps, why))
        except Exception:
            pass

    def _deadlock(self):
        if self.deadlocked:
            return
        self.deadlocked = True
        waits = ["%r waits for %s" % (t.name, self._describe_wait(t.wait))
                 for t in self.threads if t.state == "waiting"]
        try:
            self.emit("controlled_deadlock", {"step": self.steps, "waits": waits})
            self.warn("controlled mode: every thread waits and no timeout is pending, a "
                      "deadlock at step %d: %s" % (self.steps, "; ".join(waits)))
        except Exception:
            pass

    def _describe_wait(self, wait):
        if not wait:
            return "?"
        kind, obj = wait
        if kind == "lock":
            return "a lock (at 0x%x)" % id(obj)
        if kind == "join":
            return "thread %r to finish" % obj.name
        return "a sleep to end"

    def _log(self, t, filename, line, kind):
        if len(self.log) < self.LOG_LIMIT:
            self.log.append((self.steps, t.index, filename, line, kind, self.switches))

    def label(self, lock):
        """A short name for a controlled lock (L1, L2, ... in order of first use)."""
        self.labels += 1
        lock._label = "L%d" % self.labels
        return lock._label

    def note(self, t, kind):
        """A log entry that is not a scheduling point (a lock was acquired): the reader
        uses it to know which locks a thread holds."""
        if self.lost is None:
            self._log(t, None, None, kind)

    # -- the schedule, for people ----------------------------------------------------------
    def render_log(self, abs_file):
        """control-<pid>.log: a header, the threads, then one line per step:
        `<step>\\t<thread index>\\t<file>:<line> or -\\t<kind>\\t<switch count>`."""
        out = ["# racehunt-control 1 strategy=%s depth=%d steps=%d switches=%d lost=%s\n"
               % (self.strategy, self.depth, self.steps, self.switches,
                  "yes" if self.lost is not None else "no")]
        for t in self.threads:
            out.append("# thread %d %s\n" % (t.index, t.name.replace("\n", " ")))
        names = {}
        for step, index, filename, line, kind, switches in self.log:
            if filename:
                name = names.get(filename)
                if name is None:
                    name = names[filename] = abs_file(filename)
                where = "%s:%s" % (name, line)
            else:
                where = "-"
            out.append("%d\t%d\t%s\t%s\t%d\n" % (step, index, where, kind, switches))
        lines_seen = {}
        for step, index, filename, line, kind, switches in self.log:
            if filename and line:
                lines_seen.setdefault(names[filename], set()).add(line)
        for path in sorted(lines_seen):
            table = line_accesses(path)
            for line in sorted(lines_seen[path]):
                for rw, key, text in table.get(line, ()):
                    out.append("# access %s:%d\t%s\t%s\t%s\n" % (path, line, rw, key, text))
        return "".join(out)

