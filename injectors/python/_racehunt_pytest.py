"""racehunt's pytest plugin, loaded with `-p _racehunt_pytest` when a scenario's workload is
`pytest = "path::node"`: a failing test is recorded as the run's exception, with its
assertion message, its frames and the stacks of every thread, exactly as an uncaught
exception of a script would be. (pytest catches the exception itself, so the bootstrap's
excepthook never sees it.)
"""
import _thread

import _racehunt_bootstrap as _rh


def pytest_exception_interact(node, call, report):
    if not report.failed or call.excinfo is None:
        return
    try:
        info = call.excinfo
        ident = _thread.get_ident()
        _rh._record_exception(info.type, info.value, info.tb, _rh._thread_name(ident), ident,
                              _rh._native_id())
    except Exception as exc:
        _rh._internal_error("pytest plugin", exc)


def pytest_report_header(config):
    return "racehunt: failing tests are recorded as the run's failure"
