"""Lost update on a shared bank account (no lock).

The bug
-------
``Account.deposit`` and ``Account.withdraw`` are read-modify-write sequences:
they read ``self.balance`` into a local, compute the new balance, write an
audit line, and only then store the new balance back.  Two depositors and two
withdrawers run concurrently on the same account.  Deposits and withdrawals add
up to the same total, so the balance must end where it started (100000).

Why it is a race
----------------
CPython may switch threads between any two bytecodes: at a function call, a
loop back-edge, or whenever the GIL switch interval (5 ms by default) expires
and another thread asks for the GIL.  If thread A reads ``balance``, is
switched out while it formats its audit line, and thread B completes a whole
deposit in the meantime, A then writes back a value computed from the stale
balance and B's update is lost.  With the default 5 ms switch interval each
thread usually finishes its short burst of work before it is ever preempted,
so the test is "almost always green"; a smaller switch interval makes the
preemption land inside the read-to-write window and the balance drifts.

The fix
-------
Make each read-modify-write atomic with respect to the others: hold one
``threading.Lock`` per account around the read, the computation and the write
(see ``scenarios/bank-locked``).  The GIL does not help: it makes single
bytecodes atomic, not sequences of them.
"""

import threading

# Depositors pay in 10 per operation, withdrawers take out 25: both sides move
# the same total (2 x 3000 x 10 == 2 x 1200 x 25), so the balance must end
# where it started.  (Different amounts also make it unlikely that a lost
# deposit and a lost withdrawal cancel out.)
DEPOSIT, DEPOSITS_PER_THREAD = 10, 3000
WITHDRAWAL, WITHDRAWALS_PER_THREAD = 25, 1200
# Large enough that the withdrawals can never overdraw the account, in any order.
INITIAL_BALANCE = 100000


class Account(object):
    def __init__(self, owner, balance):
        self.owner = owner
        self.balance = balance
        self.last_entry = ""

    def _audit(self, op, amount, new_balance):
        # A little real work between the read and the write: formatting an
        # audit line, as production code would before committing.
        self.last_entry = "{} {} {} -> {}".format(self.owner, op, amount, new_balance)

    def deposit(self, amount):
        balance = self.balance                 # read
        new_balance = balance + amount         # compute
        self._audit("deposit", amount, new_balance)
        self.balance = new_balance             # write back (may overwrite another update)

    def withdraw(self, amount):
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
