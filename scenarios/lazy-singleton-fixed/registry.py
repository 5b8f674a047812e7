"""Control: the lazy singleton of ``lazy-singleton`` with double-checked locking.

Same handlers, same registry, same check (``len(created_by) == 1``); only
``get_registry()`` differs: it re-checks ``_registry`` while holding a
module-level lock, so exactly one handler builds the registry.  Must pass every
run under any perturbation.
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


_registry_lock = threading.Lock()


def get_registry():
    global _registry
    if _registry is None:
        with _registry_lock:            # double-checked: the check and the act
            if _registry is None:       # happen under one lock
                _registry = Registry()
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
