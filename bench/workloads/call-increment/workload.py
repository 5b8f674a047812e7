"""Racy: ``counter += 1`` inside a called function, four threads.

``increment()`` does LOAD_GLOBAL / add / STORE_GLOBAL; a thread switch between
the load and the store loses the other threads' increments, so the final
``counter`` is below ``THREADS * INCREMENTS``.  On CPython 3.10+ the
interpreter only checks for a pending switch at calls and loop back-edges, so
this race hardly ever fires there by switch interval alone (yield points or
older interpreters make it visible).  Fix: a lock around the increment
(see ``call-increment-fixed``).
"""

import threading

THREADS = 4
INCREMENTS = 20000

counter = 0


def increment():
    global counter
    counter += 1


def worker():
    for _ in range(INCREMENTS):
        increment()


threads = [threading.Thread(target=worker, name="incrementer-%d" % (i + 1)) for i in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("counter = %d (expected %d)" % (counter, THREADS * INCREMENTS))
