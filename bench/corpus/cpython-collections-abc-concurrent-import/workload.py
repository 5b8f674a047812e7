"""Request handlers validate JSON-like payloads with a lazily imported ABC.

The validation helper imports collections.abc inside the function, as many
libraries do to keep their own import cheap.  Nothing has imported
collections.abc before the first burst of requests, so eight handler threads
reach that import together.

CPython 3.13.0 ships Lib/collections/abc.py as a shim that replaces its own
sys.modules entry with _collections_abc while it runs.  A thread that finds
the shim in sys.modules while another thread is still loading it waits for the
import to finish and is then handed the shim, not the module that replaced it
(cpython gh-125245): ImportError: cannot import name 'Mapping' from
'collections.abc'.

CORPUS_FIXED=1 applies the upstream fix (python/cpython#125415, in 3.13.1):
the collections package registers _collections_abc as collections.abc itself,
so the shim is never loaded.
"""
import os
import sys
import threading

if os.environ.get("CORPUS_FIXED") == "1":
    # The two lines gh-125415 added to Lib/collections/__init__.py, right after
    # `import _collections_abc` and `import sys as _sys` (the shim file
    # Lib/collections/abc.py was deleted by the same change).
    import collections
    import _collections_abc
    sys.modules['collections.abc'] = _collections_abc
    collections.abc = _collections_abc


def validate(payload):
    from collections.abc import Mapping, Sequence
    if not isinstance(payload, Mapping):
        raise TypeError("payload must be an object")
    items = payload.get("items", [])
    if not isinstance(items, Sequence):
        raise TypeError("items must be an array")
    return len(items)


failures = []


def handle(request_id):
    try:
        assert validate({"id": request_id, "items": [1, 2, 3]}) == 3
    except Exception as exc:  # carried to the main thread below
        failures.append("request %d: %r" % (request_id, exc))


handlers = [threading.Thread(target=handle, args=(i,)) for i in range(8)]
for t in handlers:
    t.start()
for t in handlers:
    t.join()

if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
