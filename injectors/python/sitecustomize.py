# racehunt's entry point into every Python process of a run.
#
# The harness prepends this directory to PYTHONPATH, so Python's `site` module imports this
# file as `sitecustomize` at start-up. The work (chaining to the sitecustomize this file
# shadows, then installing racehunt when RACEHUNT_PROTOCOL is set) lives in
# _racehunt_site.py and the _racehunt package, because this file itself is compiled
# anew by every process when PYTHONDONTWRITEBYTECODE is set (CI images often set it),
# and compiling racehunt's modules costs 8-12 ms, about as much as the interpreter's whole
# start-up. Our own modules are therefore imported with bytecode writing switched on;
# the setting is restored at once, so the workload's modules are unaffected.
# Nothing here may raise into the interpreter. Python 3.8 syntax only.

import sys as _sys

_saved = _sys.dont_write_bytecode
try:
    _sys.dont_write_bytecode = False
    try:
        import _racehunt_site
    finally:
        _sys.dont_write_bytecode = _saved
    _racehunt_site.run()
except Exception:
    # A broken racehunt must not reach site.py, which would print an error.
    pass
del _sys, _saved
