"""Racy: inline ``self.n += 1`` on a shared object in a tight loop.

``self.n += 1`` is LOAD_ATTR / add / STORE_ATTR: not atomic.  A switch between
the load and the store loses increments.  The whole read-modify-write sits on
one line with no call in it, so on CPython 3.10+ a switch can only land there
through yield points or a very unlucky eval-breaker check: the hardest of the
increment races to trigger.  Fix: a lock (``inline-attr-increment-fixed``).
"""

import threading

THREADS = 4
INCREMENTS = 50000


class Stats(object):
    def __init__(self):
        self.n = 0

    def run(self):
        for _ in range(INCREMENTS):
            self.n += 1


stats = Stats()

threads = [threading.Thread(target=stats.run, name="stats-%d" % (i + 1)) for i in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("n = %d (expected %d)" % (stats.n, THREADS * INCREMENTS))
