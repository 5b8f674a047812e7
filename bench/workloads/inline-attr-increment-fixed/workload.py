"""Correct twin of ``inline-attr-increment``: ``self.n += 1`` under a lock.

Must pass every run under any perturbation.
"""

import threading

THREADS = 4
INCREMENTS = 50000


class Stats(object):
    def __init__(self):
        self.n = 0
        self.lock = threading.Lock()

    def run(self):
        for _ in range(INCREMENTS):
            with self.lock:
                self.n += 1


stats = Stats()

threads = [threading.Thread(target=stats.run, name="stats-%d" % (i + 1)) for i in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("n = %d (expected %d)" % (stats.n, THREADS * INCREMENTS))
