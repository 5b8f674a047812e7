"""A small "library" hit counter whose ``hit()`` is not thread-safe.

Stand-in for third-party or stdlib code: the race is here, not in the
workload that calls it.  ``hit()`` reads the current count with
``dict.get`` and stores ``count + 1``; a switch between the two (the
``get`` call is a switch point) loses other threads' hits on the same key.
"""


class HitCounter(object):
    def __init__(self):
        self.counts = {}

    def hit(self, key):
        current = self.counts.get(key, 0)
        self.counts[key] = current + 1

    def total(self):
        return sum(self.counts.values())
