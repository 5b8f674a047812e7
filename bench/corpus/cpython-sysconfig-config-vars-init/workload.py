"""A build helper names its extension modules from four threads at once.

Each thread works out where one compiled extension will go: the file name
needs the interpreter's extension suffix and the install directory needs the
platform library path, both read from sysconfig.  Nothing has asked sysconfig
for anything before, so the four threads race through its first call.

On an interpreter without the fix for cpython gh-92452, get_config_vars()
publishes the configuration dictionary empty and fills it afterwards, so a
thread arriving during the fill reads None for a variable that exists.
"""
import os
import sys
import sysconfig
import threading

EXTENSIONS = ["_speedups", "_parser", "_codec", "_hash"]

failures = []
targets = {}


def plan(name):
    try:
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        platlib = sysconfig.get_config_var("LIBDEST")
        assert suffix is not None, "EXT_SUFFIX is None"
        assert platlib is not None, "LIBDEST is None"
        targets[name] = os.path.join(platlib, "site-packages", name + suffix)
    except Exception as exc:  # carried to the main thread below
        failures.append("%s: %r" % (name, exc))


workers = [threading.Thread(target=plan, args=(name,)) for name in EXTENSIONS]
for t in workers:
    t.start()
for t in workers:
    t.join()

if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
assert len(targets) == len(EXTENSIONS), targets
