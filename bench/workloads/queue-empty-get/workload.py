"""Racy: ``if not q.empty(): q.get(block=False)`` -> queue.Empty in a worker.

Two consumers drain a pre-filled ``queue.Queue``.  ``empty()`` and ``get()``
are each thread-safe, but the pair is not: between them the other consumer
may take the last item, and ``get(block=False)`` raises ``queue.Empty``,
killing the consumer thread (the main thread still exits 0).  Fix: call
``get_nowait()`` and treat ``queue.Empty`` as "done"
(``queue-empty-get-fixed``).
"""

import queue
import threading

ITEMS = 2000

q = queue.Queue()
for i in range(ITEMS):
    q.put("item-%d" % i)
handled = []


def consumer():
    while not q.empty():
        item = q.get(block=False)
        handled.append(item.upper())


threads = [threading.Thread(target=consumer, name="consumer-%d" % (i + 1)) for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("handled %d of %d" % (len(handled), ITEMS))
