// Runs and reports as the verdict tests need them: a root Python process (pid 100) that
// finished its main script and exited.
#pragma once
#include "analysis/verdict.hpp"

namespace racehunt::test {

inline RunResult ended(int code, int sig = 0, bool timed_out = false) {
    RunResult r;
    r.started = true;
    r.exit_code = code;
    r.signal = sig;
    r.timed_out = timed_out;
    r.root_pid = 100;
    return r;
}

inline PyProcessReport root_report() {
    PyProcessReport p;
    p.pid = 100;
    p.role = "root";
    p.main_done = true;
    p.exited = true;
    return p;
}

} // namespace racehunt::test
