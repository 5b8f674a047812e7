"""Racy: two threads take two locks in opposite order (deadlock -> hang).

``worker-A-then-B`` locks ``lock_a`` then ``lock_b``; ``worker-B-then-A``
locks ``lock_b`` then ``lock_a``.  A switch while one worker holds only its
first lock lets the other take the second one: each then waits forever for
the other.  The process never exits; the scenario timeout turns that into a
``hang``.  Fix: one global lock order (``lock-order-deadlock-fixed``).
"""

import threading

ROUNDS = 300

lock_a = threading.Lock()
lock_b = threading.Lock()
shared = {"a": 0, "b": 0}


def a_then_b():
    for i in range(ROUNDS):
        with lock_a:
            tag = "A->B round {}".format(i)
            with lock_b:
                shared["a"] += 1
                shared["last"] = tag


def b_then_a():
    for i in range(ROUNDS):
        with lock_b:
            tag = "B->A round {}".format(i)
            with lock_a:
                shared["b"] += 1
                shared["last"] = tag


threads = [threading.Thread(target=a_then_b, name="worker-A-then-B"),
           threading.Thread(target=b_then_a, name="worker-B-then-A")]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("rounds: a=%d b=%d" % (shared["a"], shared["b"]))
