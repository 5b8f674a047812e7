"""What the yield points write down: yields-<pid>.log (every yield taken, the decisions
that pins name) and trace-<pid>.log (the visits of focus code around the yields, in the
format of a controlled schedule, so that the harness renders both alike; see
docs/PROTOCOL.md). Python 3.8 syntax only.
"""
import os

from . import events
from . import protocol
from . import state


class Trace(object):
    """Every visit of focus code, in the order threads ran it (replay of pins, for a
    readable interleaving of a noise-mode run): the last LIMIT visits, and the visits
    around each yield taken, kept whatever follows."""

    LIMIT = 20000       # visits kept in trace-<pid>.log (the last ones)
    BEFORE = 200        # and around each yield taken: visits before it
    AFTER = 400         # and after it
    WINDOWS = 50        # at most this many such windows

    def __init__(self):
        import collections
        self.visits = collections.deque(maxlen=self.LIMIT)
        self.count = 0
        self.windows = []        # visits around each yield taken
        self.window_open = 0     # visits still to copy into the last window

    def visit(self, index, filename, line):
        self.count += 1
        entry = (self.count, index, filename, line, "line")
        self.visits.append(entry)
        if self.window_open:
            self.window_open -= 1
            self.windows[-1].append(entry)

    def mark_yield(self, index, filename, line, pinned):
        """Marks a yield actually taken, and keeps the visits around it."""
        visits = self.visits
        visits.append((self.count, index, filename, line, "pinned yield" if pinned else "yield"))
        if len(self.windows) < self.WINDOWS:
            n = min(len(visits), self.BEFORE)
            self.windows.append([visits[i] for i in range(len(visits) - n, len(visits))])
            self.window_open = self.AFTER

    def reset(self):
        """A forked child starts its own trace."""
        self.visits.clear()
        self.count = 0
        self.windows = []
        self.window_open = 0

    def write(self, streams):
        """trace-<pid>.log."""
        if state.run_dir is None:
            return
        # The windows around the yields, then the last visits; each entry once, in order.
        # The same entry object can be in a window and in the tail; two visits of different
        # threads can share a step number (counted without a lock), so identity decides.
        seen = set()
        entries = []
        for entry in [e for w in self.windows for e in w] + list(self.visits):
            if id(entry) not in seen:
                seen.add(id(entry))
                entries.append(entry)
        entries.sort(key=lambda e: (e[0], e[4] != "line"))
        out = ["# racehunt-trace 1 visits=%d kept=%d\n" % (self.count, len(entries))]
        for stream in sorted(streams, key=lambda s: s.index):
            out.append("# thread %d %s\n" % (stream.index, (stream.name or "").replace("\n", " ")))
        names = {}
        for step, index, filename, line, kind in entries:
            name = names.get(filename)
            if name is None:
                name = names[filename] = events.abs_file(filename)
            out.append("%d\t%d\t%s:%s\t%s\t0\n" % (step, index, name, line if line is not None else "?", kind))
        events.write_atomically(os.path.join(state.run_dir, protocol.TRACE_LOG % state.pid),
                                "".join(out).encode("utf-8", "replace"))


def write_yields_log(streams):
    """yields-<pid>.log: "<thread index>\\t<file>:<line>\\t<visit>\\t<thread name>" per yield
    taken; the header names the process key, which with (thread, visit) identifies the
    decision for pins."""
    lines = ["# racehunt-yields 1 key=%016x\n" % state.process_key]
    for stream in sorted(streams, key=lambda s: s.index):
        if not stream.log:
            continue
        name = (stream.name or "").replace("\t", " ").replace("\n", " ")
        for visit, filename, line in stream.log:
            if line is None:
                line = "?"
            lines.append("%d\t%s:%s\t%d\t%s\n" % (stream.index, events.abs_file(filename), line, visit, name))
    data = "".join(lines).encode("utf-8", "replace")
    events.write_atomically(os.path.join(state.run_dir, protocol.YIELDS_LOG % state.pid), data)
