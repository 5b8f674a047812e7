"""racehunt's pytest plugin, loaded with `-p _racehunt_pytest` when a scenario's workload is
`pytest = "path::node"`: a failing test is recorded as the run's exception, with its
assertion message, its frames and the stacks of every thread, exactly as an uncaught
exception of a script would be. (pytest catches the exception itself, so racehunt's
excepthook never sees it.)
"""
import _thread

from _racehunt import events, state


def pytest_exception_interact(node, call, report):
    if not report.failed or call.excinfo is None:
        return
    try:
        info = call.excinfo
        ident = _thread.get_ident()
        events.record_exception(info.type, info.value, info.tb, events.thread_name(ident), ident,
                                state.native_id())
    except Exception as exc:
        events.internal_error("pytest plugin", exc)


def pytest_report_header(config):
    return "racehunt: failing tests are recorded as the run's failure"
