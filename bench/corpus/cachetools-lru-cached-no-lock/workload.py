"""A request handler pool memoizes profile lookups with cachetools' @cached.

Eight client connections are served by a ThreadPoolExecutor of four handler
threads; every request goes through one shared LRUCache(maxsize=32) that sees
more distinct users than it can hold, so it evicts all the time.  Without a
lock two handlers evict the same least-recently-used key, or one re-inserts a
key into the LRU order that another just deleted, and cachetools raises
KeyError from popitem()/pop() -- sometimes for good, because the ghost key
stays at the head of the LRU order.

CORPUS_FIXED=1 passes lock=threading.Lock() to @cached, which is what the
cachetools documentation prescribes for shared caches.
"""
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import cachetools

FIXED = os.environ.get("CORPUS_FIXED") == "1"

USERS = 48                # more users than the cache holds
CONNECTIONS = 8
REQUESTS_PER_CONNECTION = 3000


@cachetools.cached(cachetools.LRUCache(maxsize=32),
                   lock=threading.Lock() if FIXED else None)
def load_profile(user_id):
    name = "user-%d" % user_id
    return {"id": user_id, "name": name, "display": name.title()}


def serve_connection(requests):
    """One keep-alive client: answer its requests in order."""
    replies = []
    for user_id in requests:
        profile = load_profile(user_id)
        replies.append(profile["name"])
    return replies


def main():
    rng = random.Random()
    connections = [[rng.randrange(USERS) for _ in range(REQUESTS_PER_CONNECTION)]
                   for _ in range(CONNECTIONS)]
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="handler") as pool:
        futures = [pool.submit(serve_connection, c) for c in connections]
        for future, requests in zip(futures, connections):
            # result() re-raises a handler's exception here, in the main thread
            assert future.result() == ["user-%d" % u for u in requests]

    # After the burst the cache must still work for new users ...
    for user_id in range(1000, 1040):
        assert load_profile(user_id)["id"] == user_id
    # ... and its bookkeeping must still agree with its contents.
    cache = load_profile.cache
    assert cache.currsize == len(cache) <= cache.maxsize, (cache.currsize, len(cache))


if __name__ == "__main__":
    main()
