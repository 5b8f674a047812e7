"""What the layers registered with the installer, for the moments every layer meets:
a fork, the end of the process, the dump signal, the counters of the `exit` event, a
thread's start and the workload's import of threading.

Each entry is (order, function); the installer picks the orders so that files and events
come out in one fixed sequence whatever order the layers started in. A hook handles its
own errors (each says what failed in its own words); the callers only guard against
the unexpected.
"""

_hooks = {
    "after_fork": [],       # f(): in a forked child, after state.reset_for_child()
    "before_exit": [],      # f(): first thing at exit, before main_done
    "exit": [],             # f(): write the layer's logs at exit, before the counters
    "exit_late": [],        # f(): write the layer's logs at exit, after the counters
    "dump": [],             # f(): write the layer's logs on the dump signal
    "counters": [],         # f() -> dict: merged into the `counters` of exit and dump
    "thread_begins": [],    # f(thread, index): a threading thread starts running
    "threading": [],        # f(threading): the workload imported threading
    "calm": [],             # f(): the harness asked the run to stop perturbing (state.check_calm)
}

# Single providers, set by the installer: thread_stacks(with_locks) -> [thread entries]
# (forensics), failure_loops() -> [loop entries] and loops_snapshot() -> [loop entries]
# (the asyncio layer, once asyncio is imported).
thread_stacks = None
failure_loops = None
loops_snapshot = None


def add(kind, function, order=0):
    entries = _hooks[kind]
    entries.append((order, len(entries), function))
    entries.sort(key=lambda e: (e[0], e[1]))


def each(kind):
    return [entry[2] for entry in _hooks[kind]]
