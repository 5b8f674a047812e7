"""Four worker threads each open their own shelve cache file at start-up.

shelve.open() calls dbm.open(), whose first call probes the dbm back ends in
order (dbm.gnu, dbm.ndbm, dbm.dumb) by importing each and keeping the first
that imports.  This interpreter has neither _gdbm nor _dbm, so dbm.gnu and
dbm.ndbm fail to import and dbm.dumb is chosen.  The four workers make that
first call together, each on a different file.

While one thread's import of dbm.gnu is failing, another thread that finds the
half-imported dbm.gnu in sys.modules waits for that import, and is then handed
the module object that the failed import has just thrown away instead of the
ImportError (cpython gh-143650).  dbm.open() takes it as its back end:
AttributeError: module 'dbm.gnu' has no attribute 'open' (the same error as
reported from shelve.open() in isaacmg/fb_scraper#14 and #18).

CORPUS_FIXED=1: the upstream fix (python/cpython#143651) is in C, in the fast
path of PyImport_ImportModuleLevelObject, and cannot be patched from Python.
The twin sends __import__ through importlib's own Python implementation,
importlib.__import__, whose _find_and_load already does what the C fix adds:
after waiting for the module lock it reads sys.modules again and imports anew
when the entry is gone.
"""
import os
import shutil
import sys
import tempfile
import threading

if os.environ.get("CORPUS_FIXED") == "1":
    import builtins
    import importlib
    builtins.__import__ = importlib.__import__

import shelve

cache_dir = tempfile.mkdtemp(prefix="shelve-cache-")
failures = []


def worker(n):
    try:
        with shelve.open(os.path.join(cache_dir, "worker-%d" % n)) as cache:
            cache["started"] = n
            assert cache["started"] == n
    except Exception as exc:  # carried to the main thread below
        failures.append("worker %d: %r" % (n, exc))


try:
    workers = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
finally:
    shutil.rmtree(cache_dir, ignore_errors=True)

if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
