"""The thread-safe version of the "library" hit counter: ``hit()`` holds a lock."""

import threading


class HitCounter(object):
    def __init__(self):
        self.counts = {}
        self._lock = threading.Lock()

    def hit(self, key):
        with self._lock:
            current = self.counts.get(key, 0)
            self.counts[key] = current + 1

    def total(self):
        with self._lock:
            return sum(self.counts.values())
