"""A service defers an import it rarely needs, then serves a burst of requests.

The service keeps its start-up fast with the lazy-import recipe from the
importlib documentation: `http` is bound at start-up but only executed on the
first attribute access.  The first burst of requests arrives on four handler
threads at once, and each of them turns a status code into its reason phrase.

On an interpreter without the fix for cpython gh-114763, the first attribute
access resets the module's class before the module has run, so a second thread
looking at the module during that window finds it empty:
AttributeError: module 'http' has no attribute 'HTTPStatus'.
"""
import importlib.util
import sys
import threading


def lazy_import(name):
    # The recipe from the importlib documentation ("Implementing lazy imports").
    spec = importlib.util.find_spec(name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


http = lazy_import("http")

failures = []


def handle(code):
    try:
        status = http.HTTPStatus(code)
        line = "HTTP/1.1 %d %s" % (status.value, status.phrase)
        assert line.startswith("HTTP/1.1 %d " % code), line
    except Exception as exc:  # carried to the main thread below
        failures.append("%s: %r" % (threading.current_thread().name, exc))


handlers = [threading.Thread(target=handle, args=(code,), name="handler-%d" % code)
            for code in (200, 201, 404, 503)]
for t in handlers:
    t.start()
for t in handlers:
    t.join()

if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
