"""Workload whose race lives in an imported helper module (``helpers/counter.py``).

Four request threads record hits on a few endpoints through a shared
``HitCounter``.  In ``stdlib-helper-race`` the counter's ``hit()`` is an
unlocked read-modify-write, so hits are lost; in ``stdlib-helper-race-fixed``
it holds a lock.  This code is identical in both: a perturbation focused only
on this file cannot find the bug, it has to reach the library.
"""

import threading

from helpers.counter import HitCounter

THREADS = 4
REQUESTS = 5000
ENDPOINTS = ["/", "/login", "/api/items", "/health"]

hits = HitCounter()


def serve():
    for i in range(REQUESTS):
        hits.hit(ENDPOINTS[i % len(ENDPOINTS)])


threads = [threading.Thread(target=serve, name="request-%d" % (i + 1)) for i in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("hits: %d (expected %d)" % (hits.total(), THREADS * REQUESTS))
