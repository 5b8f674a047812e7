"""Lock-order deadlock between two transfers in opposite directions.

The bug
-------
Each account has its own lock, and ``transfer(src, dst, amount)`` locks the
source account and then the destination account.  Thread
``worker-A-then-B`` moves money from account A to account B, thread
``worker-B-then-A`` from B to A.  So the first thread takes the locks in the
order A, B and the second in the order B, A.

Why it is a race
----------------
If ``worker-A-then-B`` is switched out after it has locked A but before it
has locked B, and ``worker-B-then-A`` then locks B, each thread waits forever
for the lock the other one holds: a deadlock.  The process never exits (both
threads are non-daemon), and the harness reports the run as ``hang`` after
the scenario's timeout, with both threads' stacks.  With the default 5 ms
switch interval the worker that leaves the start barrier first usually
completes all its transfers in one time slice, before the other one gets the
GIL, so the test passes nearly always; shorter switch intervals put the
switch between the two acquisitions much more often.

The fix
-------
Impose one global lock order: always lock the account with the smaller id
first, whatever the direction of the transfer (``first, second =
sorted((src, dst), key=lambda a: a.id)``).  Alternatives: one lock for both
accounts, or ``acquire(timeout=...)`` with back-off and retry.
"""

import threading

TRANSFERS_PER_WORKER = 250


class Account(object):
    def __init__(self, account_id, balance):
        self.id = account_id
        self.balance = balance
        self.lock = threading.Lock()


journal = []


def transfer(src, dst, amount):
    with src.lock:
        if src.balance < amount:
            return False
        note = "transfer {} from {} to {}".format(amount, src.id, dst.id)
        with dst.lock:                      # second lock, taken while holding the first
            src.balance -= amount
            dst.balance += amount
            journal.append(note)
    return True


account_a = Account("A", 1000)
account_b = Account("B", 1000)


start_gate = threading.Barrier(2)


def worker(src, dst):
    start_gate.wait()                       # both workers start together
    for _ in range(TRANSFERS_PER_WORKER):
        transfer(src, dst, 1)


def main():
    threads = [
        threading.Thread(target=worker, args=(account_a, account_b), name="worker-A-then-B"),
        threading.Thread(target=worker, args=(account_b, account_a), name="worker-B-then-A"),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("balances: A=%d B=%d after %d transfers" % (account_a.balance, account_b.balance, len(journal)))


if __name__ == "__main__":
    main()
