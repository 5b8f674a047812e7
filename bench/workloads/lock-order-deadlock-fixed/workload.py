"""Correct twin of ``lock-order-deadlock``: both workers lock A before B.

Must pass every run under any perturbation.
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
    # Same direction of work as before, but the locks are taken in the global
    # order (A before B), so no cycle of waiting threads can form.
    for i in range(ROUNDS):
        with lock_a:
            tag = "B->A round {}".format(i)
            with lock_b:
                shared["b"] += 1
                shared["last"] = tag


threads = [threading.Thread(target=a_then_b, name="worker-A-then-B"),
           threading.Thread(target=b_then_a, name="worker-B-then-A")]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("rounds: a=%d b=%d" % (shared["a"], shared["b"]))
