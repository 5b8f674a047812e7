"""Correct twin of ``lost-wakeup``: the consumer checks the slot under the lock, in a loop.

Must pass every run under any perturbation.
"""

import threading

ROUNDS = 1000

cond = threading.Condition()
slot = None
received = []


def producer():
    global slot
    for i in range(ROUNDS):
        with cond:
            while slot is not None:
                cond.wait()
            slot = i
            cond.notify()


def consumer():
    global slot
    for _ in range(ROUNDS):
        with cond:
            while slot is None:
                cond.wait()
            received.append(slot)
            slot = None
            cond.notify()


threads = [threading.Thread(target=producer, name="producer"),
           threading.Thread(target=consumer, name="consumer")]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("received %d of %d" % (len(received), ROUNDS))
