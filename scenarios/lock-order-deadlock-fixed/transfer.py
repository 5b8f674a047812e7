"""Control: the transfers of ``lock-order-deadlock`` with one global lock order.

Same two workers moving money in opposite directions; ``transfer`` locks the
account with the smaller id first whatever the direction, so no cycle of
waiting threads can form.  Must pass every run under any perturbation.
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
    first, second = sorted((src, dst), key=lambda a: a.id)   # one global lock order
    with first.lock:
        with second.lock:
            if src.balance < amount:
                return False
            note = "transfer {} from {} to {}".format(amount, src.id, dst.id)
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
