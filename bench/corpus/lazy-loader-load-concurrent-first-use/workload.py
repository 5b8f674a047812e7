"""Worker threads resolve the same optional backends with lazy_loader.load().

A report service keeps its optional backends behind lazy_loader.load() so
they are only imported when used.  At start-up four worker threads each
resolve the backends they will need; the handles are used afterwards.
load() checks sys.modules, then (after find_spec, which touches the file
system) creates a lazy module and stores it in sys.modules, with nothing
guarding the gap.  Two workers resolving the same name at once each create a
module object and the second overwrites the first in sys.modules; the
worker left holding the first one later gets "ValueError: module object for
'X' substituted in sys.modules during a lazy load" (or an ImportError from a
backend that imports a half-substituted sibling) on first use.

CORPUS_FIXED=1 installs load() as released in lazy_loader 0.4
(scientific-python/lazy-loader#90): the whole body runs under one
module-level threading.Lock.  (0.4 also added a `require=` argument, which
this workload does not use.)
"""
import importlib
import importlib.util
import inspect
import os
import sys
import threading

import lazy_loader as lazy

if os.environ.get("CORPUS_FIXED") == "1":
    threadlock = threading.Lock()

    def _load_fixed(fullname, error_on_import=False):
        with threadlock:
            module = sys.modules.get(fullname)
            if module is not None:
                return module
            spec = importlib.util.find_spec(fullname)
            if spec is None:
                if error_on_import:
                    raise ModuleNotFoundError("No module named '%s'" % fullname)
                parent = inspect.stack()[1]
                try:
                    frame_data = {"spec": fullname, "filename": parent.filename,
                                  "lineno": parent.lineno, "function": parent.function,
                                  "code_context": parent.code_context}
                    return lazy.DelayedImportErrorModule(frame_data, "DelayedImportErrorModule")
                finally:
                    del parent
            module = importlib.util.module_from_spec(spec)
            sys.modules[fullname] = module
            loader = importlib.util.LazyLoader(spec.loader)
            loader.exec_module(module)
        return module

    lazy.load = _load_fixed

# backend module -> the callable the service uses from it
BACKENDS = {
    "statistics": "median",
    "fractions": "Fraction",
    "colorsys": "rgb_to_hls",
    "difflib": "SequenceMatcher",
    "csv": "writer",
    "plistlib": "dumps",
}


def warm_up(worker, handles, failures):
    try:
        for name in BACKENDS:
            handles[worker, name] = lazy.load(name)
    except BaseException as exc:  # carried to the main thread below
        failures.append(exc)


def main():
    handles, failures = {}, []
    workers = [threading.Thread(target=warm_up, args=(w, handles, failures), name="worker-%d" % w)
               for w in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    if failures:
        raise failures[0]

    # Serving: every worker's handles must be usable modules.
    for (worker, name), module in sorted(handles.items()):
        assert callable(getattr(module, BACKENDS[name])), (worker, name)
    assert handles[0, "statistics"].median([3, 1, 2]) == 2


if __name__ == "__main__":
    main()
