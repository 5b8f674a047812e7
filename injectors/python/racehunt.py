"""Helpers a workload may call to talk to racehunt.

    import racehunt
    racehunt.check(account.balance >= 0, "balance went negative")

Inside a racehunt run, a failed check writes a `check_failed` event with the message and
the stacks of every thread (the harness treats it as a failure of the run); outside
racehunt both functions are harmless no-ops, so the calls can stay in the code. The
module is importable inside a run because racehunt's directory is on PYTHONPATH;
copy it next to your code to keep the import working elsewhere.
"""

import sys

__all__ = ["active", "check"]


def _bootstrap():
    # Look racehunt's events module up instead of importing it: outside a run importing it
    # would do nothing useful, and inside a run sitecustomize has already loaded it.
    module = sys.modules.get("_racehunt.events")
    if module is not None and module.is_installed():
        return module
    return None


def active():
    """True when this process runs under racehunt with the bootstrap installed."""
    return _bootstrap() is not None


def check(cond, message=None):
    """Record a failure when `cond` is false; never raises, always returns None.

    The check does not stop the program: the run goes on, and the harness reports it as
    failed with the message and every thread's stack at the moment of the check.
    """
    if cond:
        return None
    module = _bootstrap()
    if module is None:
        return None
    try:
        module.record_check_failed("check failed" if message is None else message)
    except Exception:
        pass
    return None
