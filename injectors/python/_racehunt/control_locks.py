"""Controlled mode's side of `threading`: its locks hand the turn over instead of
blocking, its threads start and join through the scheduler, and time is virtual
(control.py holds the scheduler). Installed when the workload imports threading.
Python 3.8 syntax only."""

class ControlledLock(object):
    """A lock whose blocking acquire hands the turn over instead of blocking."""

    __slots__ = ("_lock", "_sched", "_label", "__weakref__")

    def __init__(self, sched, raw_lock):
        self._lock = raw_lock
        self._sched = sched
        self._label = None

    def acquire(self, blocking=True, timeout=-1):
        sched = self._sched
        t = sched.me()
        if t is None:
            return self._lock.acquire(blocking, timeout)
        label = self._label or sched.label(self)
        sched.sync_point(t, "acquire " + label)
        while True:
            if self._lock.acquire(False):
                sched.note(t, "acquired " + label)
                return True
            if not blocking:
                return False
            ok = sched.block(t, ("lock", self._lock), None if timeout is None or timeout < 0 else timeout)
            if ok is None:                      # control lost meanwhile
                return self._lock.acquire(blocking, timeout)
            if not ok:
                got = self._lock.acquire(False)
                if got:
                    sched.note(t, "acquired " + label)
                return got
            # The lock looked free when the turn came back; try again.

    def release(self):
        self._lock.release()
        sched = self._sched
        t = sched.me()
        if t is not None:
            sched.sync_point(t, "release " + (self._label or sched.label(self)))

    def locked(self):
        return self._lock.locked()

    def _at_fork_reinit(self):
        self._lock._at_fork_reinit()

    __enter__ = acquire

    def __exit__(self, *args):
        self.release()

    def __repr__(self):
        return "<racehunt controlled %s lock at 0x%x>" % (
            "locked" if self._lock.locked() else "unlocked", id(self))


def install(threading, sched, real_allocate, abs_file):
    """Route threading's locks and threads through the scheduler. `threading` was just
    imported; `real_allocate` is _thread.allocate_lock."""
    def allocate_lock():
        return ControlledLock(sched, real_allocate())

    threading._allocate_lock = allocate_lock
    threading.Lock = allocate_lock
    threading.RLock = threading._PyRLock     # built on _allocate_lock, so controlled
    Thread = threading.Thread
    orig_start = Thread.start
    orig_join = Thread.join

    def start(self):
        t = sched.me()
        if t is None:
            return orig_start(self)
        managed = sched.register(self.name)
        self._racehunt_managed = managed
        run = self.run

        def controlled_run():
            sched.enter(managed)
            try:
                return run()
            finally:
                sched.leave(managed)
        self.run = controlled_run
        # Starting is not a scheduling point inside: the new thread's own start-up (until
        # its run()) happens outside the scheduler, in raw mode for this thread.
        sched.raw.on = True
        try:
            orig_start(self)
        finally:
            sched.raw.on = False
        sched.sync_point(t, "start %s" % self.name)

    def join(self, timeout=None):
        t = sched.me()
        target = getattr(self, "_racehunt_managed", None)
        if t is not None and target is not None and target.state != "done":
            sched.sync_point(t, "join %s" % self.name)
            while target.state != "done":
                ok = sched.block(t, ("join", target), timeout)
                if ok is None or not ok:
                    break
        sched.raw.on = True
        try:
            return orig_join(self, timeout)
        finally:
            sched.raw.on = False
            if t is not None and target is not None and target.state == "done":
                # Not a scheduling point: the reader learns that what the joined thread
                # did happened before this thread's next steps.
                sched.note(t, "joined %s" % self.name)

    start.__wrapped__ = orig_start
    join.__wrapped__ = orig_join
    Thread.start = start
    Thread.join = join

    import time
    real_sleep = time.sleep
    # Virtual time: timeouts and sleeps end when the scheduler says so, and the clocks
    # move forward by the virtual time that passed, so that code computing "time left"
    # (queue.get, Semaphore.acquire, Condition.wait_for) sees its timeout expire.
    for name in ("monotonic", "time", "perf_counter"):
        real = getattr(time, name)

        def clock(_real=real):
            return _real() + sched.vclock
        clock.__wrapped__ = real
        setattr(time, name, clock)
    threading._time = time.monotonic

    def sleep(seconds):
        t = sched.me()
        if t is None:
            return real_sleep(seconds)
        sched.sync_point(t, "sleep")
        sched.block(t, ("sleep", None), max(0.0, float(seconds)))
    sleep.__wrapped__ = real_sleep
    time.sleep = sleep
