"""Check-then-act lazy initialisation of a singleton (no lock).

The bug
-------
``get_registry()`` creates the process-wide ``Registry`` on first use::

    if _registry is None:          # check
        _registry = Registry()     # act
    return _registry

Building the registry is not free: it loads a table of default settings.
Several request-handler threads start together (behind a barrier, as a test
or a server warm-up would) and the first thing each one does is call
``get_registry()``.  There must be exactly one registry; every creation is
recorded in ``created_by`` (the name of the creating thread), so the check is
``len(created_by) == 1``.

Why it is a race
----------------
The check and the act are two separate steps, and the act takes a while.  If
the interpreter switches threads after one handler has seen ``None`` but
before it has stored the new instance, a second handler also sees ``None`` and
builds its own registry.  The two threads then hold different registries: the
settings one handler registers are invisible to the other, and whichever
assignment comes last silently replaces the other.  With the default 5 ms
switch interval the first handler finishes the construction long before it
can be preempted, so this almost never shows; with a short switch interval
the other handlers get the GIL while the first is still loading defaults.

The fix
-------
Double-checked locking: take a module-level ``threading.Lock`` and re-check
inside it::

    if _registry is None:
        with _registry_lock:
            if _registry is None:
                _registry = Registry()

(or create the instance eagerly at import time, which the import lock
serialises).
"""

import threading

HANDLERS = 4
REQUESTS_PER_HANDLER = 50
DEFAULT_SETTINGS = 500

created_by = []         # one entry per Registry() ever built
_registry = None


class Registry(object):
    def __init__(self):
        created_by.append(threading.current_thread().name)
        self.settings = {}
        self._load_defaults()

    def _load_defaults(self):
        # Parsing a built-in table of defaults: real work, no sleeping.
        for i in range(DEFAULT_SETTINGS):
            key = "service.option_{}".format(i)
            self.settings[key] = str(i * 7 % 13)

    def get(self, key, default=None):
        return self.settings.get(key, default)


def get_registry():
    global _registry
    if _registry is None:               # check ...
        _registry = Registry()          # ... then act: not atomic
    return _registry


start_gate = threading.Barrier(HANDLERS)
served = []


def handler(n):
    start_gate.wait()                   # all handlers start serving together
    hits = 0
    for i in range(REQUESTS_PER_HANDLER):
        registry = get_registry()
        if registry.get("service.option_{}".format(i)) is not None:
            hits += 1
    served.append(hits)


def main():
    threads = [threading.Thread(target=handler, args=(i,), name="handler-%d" % (i + 1))
               for i in range(HANDLERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("registries created by: %s" % ", ".join(created_by))


if __name__ == "__main__":
    main()
