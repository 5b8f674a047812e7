"""Correct twin of ``queue-empty-get``: take-or-stop in one atomic call.

Must pass every run under any perturbation.
"""

import queue
import threading

ITEMS = 2000

q = queue.Queue()
for i in range(ITEMS):
    q.put("item-%d" % i)
handled = []


def consumer():
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            break
        handled.append(item.upper())


threads = [threading.Thread(target=consumer, name="consumer-%d" % (i + 1)) for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("handled %d of %d" % (len(handled), ITEMS))
