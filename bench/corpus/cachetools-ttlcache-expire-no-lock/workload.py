"""Four consumer threads share a cachetools.TTLCache of short-lived tokens.

Each consumer looks a user's token up with cache.get(), and on a miss mints a
new one and stores it with cache[user] = token -- the pattern of the tracker
report.  The ttl is 20 ms, so entries expire all the time and every store
runs TTLCache.expire(), which walks the shared expiry list and deletes the
stale entries.  Two threads expiring at once delete the same link twice
(KeyError from Cache.__delitem__) or leave the list and the key index out of
step, after which a key shows up twice or never expires.

CORPUS_FIXED=1 synchronizes every access to the shared cache with one lock,
which is what the cachetools documentation requires of shared caches.
"""
import os
import random
import threading
import time

import cachetools

FIXED = os.environ.get("CORPUS_FIXED") == "1"

USERS = 400
LOOKUPS_PER_CONSUMER = 5000

tokens = cachetools.TTLCache(maxsize=1024, ttl=0.02)
tokens_lock = threading.Lock()


class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


guard = tokens_lock if FIXED else _NoLock()


def token_for(user):
    with guard:
        token = tokens.get(user)
    if token is None:
        token = "tok-%d-%d" % (user, time.monotonic_ns())
        with guard:
            tokens[user] = token
    return token


def consumer(seed, failures):
    rng = random.Random(seed)
    try:
        for _ in range(LOOKUPS_PER_CONSUMER):
            user = rng.randrange(USERS)
            assert token_for(user).startswith("tok-%d-" % user)
    except BaseException as exc:  # carried to the main thread below
        failures.append(exc)


def main():
    failures = []
    threads = [threading.Thread(target=consumer, args=(i, failures), name="consumer-%d" % i)
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]

    with guard:
        keys = list(tokens)
    assert len(keys) == len(set(keys)), "a user appears twice in the expiry list"
    time.sleep(2 * tokens.ttl)
    with guard:
        left = len(tokens)
    assert left == 0, "%d tokens outlived their ttl" % left


if __name__ == "__main__":
    main()
