"""Racy: lost wakeup -- the consumer checks the slot outside the condition's lock.

A producer hands items one at a time to a consumer through a one-item
``slot`` guarded by a ``threading.Condition``.  The producer is correct.  The
consumer checks ``slot is None`` *without* holding the lock, and then waits
without re-checking::

    if slot is None:          # check, lock not held
        with cond:
            cond.wait()       # no predicate loop

If the producer fills the slot and calls ``notify()`` between the check and
the ``wait()``, nobody is waiting yet, the notification is lost, the consumer
waits forever, and the producer waits forever for the slot to be emptied:
the run hangs (the scenario timeout reports it).  Fix: check the predicate
under the lock, in a loop (``with cond: while slot is None: cond.wait()``,
or ``cond.wait_for(...)``) -- ``lost-wakeup-fixed``.
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
        if slot is None:
            with cond:
                cond.wait()
        with cond:
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
