"""The checks a user would write without racehunt, for the baselines of bench/bench.py.

A benchmark workload is a plain script plus a scenario.toml whose [check] table says
what a correct run looks like. racehunt evaluates those checks itself; the baselines
(plain repetition, pytest-repeat, pytest with a tiny switch interval) need the same
checks done by hand, the way a test would do them. This module does exactly that and
nothing more: run the script as ``__main__``, join the threads it left running, and
report the first check that fails -- an exit status, an exception in any thread, an
invariant over the script's globals, or the time limit (a hang).

Two ways to run:

``python3 runcheck.py SPEC.json``
    one fresh interpreter per run (plain repetition). Exit 0 on pass, 1 on failure
    with the reason on stderr; the caller enforces the time limit by killing it.

``run_in_thread(spec)``
    from a test function (pytest-repeat): runs the script in a daemon thread of the
    calling process, so a deadlocked run can be abandoned after the time limit
    instead of hanging the whole test session; threads the script starts inherit
    the daemon flag. Returns None or the failure.

SPEC.json holds: script (path), cwd, exit_code, thread_exceptions ("fail"/"ignore"),
invariants (list of expressions), timeout_s.
Standard library only; runs on every interpreter here (3.8+).
"""
import json
import os
import runpy
import sys
import threading
import time


def _fresh_modules(script_dir):
    """Forget modules loaded from the workload's directory, so that each in-process
    repetition starts from fresh module state, as a fresh interpreter would."""
    prefix = os.path.join(os.path.realpath(script_dir), "")
    for name, mod in list(sys.modules.items()):
        path = getattr(mod, "__file__", None)
        if path and os.path.realpath(path).startswith(prefix):
            del sys.modules[name]


class _Run(object):
    def __init__(self, spec):
        self.spec = spec
        self.script = os.path.realpath(spec["script"])
        self.globals = None
        self.error = None
        self.thread_errors = []

    def excepthook(self, args):
        if args.exc_type is SystemExit:
            return
        self.thread_errors.append("%s in thread %r: %s" % (
            args.exc_type.__name__, getattr(args.thread, "name", "?"), args.exc_value))

    def main(self):
        try:
            self.globals = runpy.run_path(self.script, run_name="__main__")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if code != self.spec.get("exit_code", 0):
                self.error = "exit status %d" % code
            self.globals = {}
        except BaseException as e:  # the workload's own failure
            self.error = "%s: %s" % (type(e).__name__, e)

    def verdict(self):
        if self.error:
            return self.error
        if self.thread_errors and self.spec.get("thread_exceptions", "fail") == "fail":
            return self.thread_errors[0]
        for expr in self.spec.get("invariants", []):
            try:
                ok = eval(expr, self.globals)
            except Exception as e:
                return "invariant %s raised %s: %s" % (expr, type(e).__name__, e)
            if not ok:
                return "invariant %s is false" % expr
        return None


def _join_new_threads(before, deadline=None):
    """Join the threads started since `before`; None, or the hang when one is still
    running at `deadline` (time.monotonic(); None waits as long as it takes)."""
    for t in threading.enumerate():
        if t in before or t is threading.current_thread():
            continue
        t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if t.is_alive():
            return "hang: thread %r still running at the time limit" % t.name
    return None


def _prepare(spec):
    script = os.path.realpath(spec["script"])
    os.chdir(spec.get("cwd") or os.path.dirname(script))
    sys.argv = [script]
    here = os.path.dirname(script)
    if sys.path[0] != here:
        sys.path.insert(0, here)
    _fresh_modules(here)


def run_in_thread(spec):
    """One run inside the calling process; returns None (pass) or the failure."""
    _prepare(spec)
    run = _Run(spec)
    before = set(threading.enumerate())
    old_hook = threading.excepthook
    threading.excepthook = run.excepthook
    try:
        deadline = time.monotonic() + spec["timeout_s"]
        main = threading.Thread(target=run.main, name="workload-main", daemon=True)
        main.start()
        main.join(spec["timeout_s"])
        if main.is_alive():
            return "hang: the workload's main code still running after %.1fs" % spec["timeout_s"]
        hung = _join_new_threads(before, deadline)
        if hung:
            return hung
        return run.verdict()
    finally:
        threading.excepthook = old_hook


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    _prepare(spec)
    run = _Run(spec)
    threading.excepthook = run.excepthook
    before = set(threading.enumerate())
    run.main()
    # The caller kills this process at the time limit; joining without a deadline here
    # is what a plain `python script.py` does at exit.
    _join_new_threads(before)
    failure = run.verdict()
    if failure:
        sys.stderr.write("FAILED: %s\n" % failure)
        sys.exit(1)


if __name__ == "__main__":
    main()
