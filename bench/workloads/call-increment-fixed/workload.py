"""Correct twin of ``call-increment``: the increment runs under a lock.

Must pass every run under any perturbation.
"""

import threading

THREADS = 4
INCREMENTS = 20000

counter = 0
counter_lock = threading.Lock()


def increment():
    global counter
    with counter_lock:
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
