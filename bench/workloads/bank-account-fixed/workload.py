"""Correct twin of ``bank-account``: read-validate-write under the account lock.

Must pass every run under any perturbation.
"""

import threading

OPERATIONS = 5000
AMOUNT = 5
INITIAL = 2 * OPERATIONS * AMOUNT   # withdrawals can never overdraw


class Account(object):
    def __init__(self, balance):
        self.balance = balance
        self.lock = threading.Lock()

    def _validate(self, new_balance):
        if new_balance < 0:
            raise ValueError("overdraft: {}".format(new_balance))

    def deposit(self, amount):
        with self.lock:
            new_balance = self.balance + amount
            self._validate(new_balance)
            self.balance = new_balance

    def withdraw(self, amount):
        with self.lock:
            new_balance = self.balance - amount
            self._validate(new_balance)
            self.balance = new_balance


account = Account(INITIAL)


def saver():
    for _ in range(OPERATIONS):
        account.deposit(AMOUNT)


def spender():
    for _ in range(OPERATIONS):
        account.withdraw(AMOUNT)


threads = [threading.Thread(target=saver, name="saver-1"), threading.Thread(target=spender, name="spender-1"),
           threading.Thread(target=saver, name="saver-2"), threading.Thread(target=spender, name="spender-2")]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("balance = %d (expected %d)" % (account.balance, INITIAL))
