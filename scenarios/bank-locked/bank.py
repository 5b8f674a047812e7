"""The correct, locked bank account: the fixed twin of ``bank-lost-update``.

What it shows
-------------
The same account, the same two depositors and two withdrawers, the same
read-compute-audit-write sequence as ``scenarios/bank-lost-update/bank.py``,
but every read-modify-write of the balance runs under the account's
``threading.Lock``.  The final balance is therefore always exactly the
initial balance, under every switch interval, yield point or native delay
that racehunt can inject.  This scenario must pass every run; a failure here
means the harness (not the workload) is broken.

Why the lock fixes the race
---------------------------
A thread can still be switched out between reading and writing the balance,
but any other thread that wants to touch the balance blocks on the lock until
the first thread has written its result back, so no update is computed from
a stale value.  The audit line is formatted under the lock too, so the audit
trail matches the balances.  ``threading.Lock`` is not reentrant: the public
methods take it and the private helper assumes it is held.
"""

import threading

# Depositors pay in 10 per operation, withdrawers take out 25: both sides move
# the same total (2 x 3000 x 10 == 2 x 1200 x 25), so the balance must end
# where it started.
DEPOSIT, DEPOSITS_PER_THREAD = 10, 3000
WITHDRAWAL, WITHDRAWALS_PER_THREAD = 25, 1200
# Large enough that the withdrawals can never overdraw the account, in any order.
INITIAL_BALANCE = 100000


class Account(object):
    def __init__(self, owner, balance):
        self.owner = owner
        self.balance = balance
        self.last_entry = ""
        self._lock = threading.Lock()

    def _audit(self, op, amount, new_balance):
        # Caller holds self._lock.
        self.last_entry = "{} {} {} -> {}".format(self.owner, op, amount, new_balance)

    def deposit(self, amount):
        with self._lock:
            balance = self.balance
            new_balance = balance + amount
            self._audit("deposit", amount, new_balance)
            self.balance = new_balance

    def withdraw(self, amount):
        with self._lock:
            balance = self.balance
            if balance < amount:
                raise ValueError("insufficient funds")
            new_balance = balance - amount
            self._audit("withdraw", amount, new_balance)
            self.balance = new_balance


account = Account("alice", INITIAL_BALANCE)


def depositor():
    for _ in range(DEPOSITS_PER_THREAD):
        account.deposit(DEPOSIT)


def withdrawer():
    for _ in range(WITHDRAWALS_PER_THREAD):
        account.withdraw(WITHDRAWAL)


def main():
    threads = [
        threading.Thread(target=depositor, name="depositor-1"),
        threading.Thread(target=withdrawer, name="withdrawer-1"),
        threading.Thread(target=depositor, name="depositor-2"),
        threading.Thread(target=withdrawer, name="withdrawer-2"),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("final balance: %d (expected %d)" % (account.balance, INITIAL_BALANCE))


if __name__ == "__main__":
    main()
