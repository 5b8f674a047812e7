"""Console behaviour on a real terminal (a pseudo-terminal) and in logs."""
import os
import pty
import select
import time

from racehunt_testlib import scenario_toml


def scenario(rh, body="import time\ntime.sleep(0.05)\n"):
    return rh.scenario(scenario_toml(runs=30), {"w.py": body})


def run_on_pty(rh, args, env_extra):
    """Runs racehunt with stdout and stderr on a pseudo-terminal; returns all it wrote."""
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(str(rh.dir))
        env = dict(os.environ, RH_TEST_MARK=rh.mark, TERM="xterm")
        env.pop("NO_COLOR", None)
        env.update(env_extra)
        os.execve(rh.exe, [rh.exe] + [str(a) for a in args], env)
    out = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 1)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8, out.decode("utf-8", "replace")


def test_terminal_gets_a_live_progress_line_and_colour(rh):
    s = scenario(rh)
    code, out = run_on_pty(rh, ["--runs", 30, "-j", 1, s], {})
    assert code == 0, out
    # The progress line is redrawn in place (carriage return, erase line).
    assert out.count("\r\x1b[K") >= 2, out
    assert "ETA" in out
    assert "\x1b[32mOK\x1b[0m" in out, out


def test_no_color_turns_colour_off_on_a_terminal(rh):
    s = scenario(rh)
    code, out = run_on_pty(rh, ["--runs", 5, s], {"NO_COLOR": "1"})
    assert code == 0, out
    assert "\x1b[32m" not in out and "\x1b[1m" not in out, out


def test_logs_get_plain_periodic_lines(rh):
    s = scenario(rh)
    r = rh.run("--runs", 30, "-j", 1, s)
    assert r.returncode == 0, r.explain()
    assert "\r" not in r.stderr
    progress = [l for l in r.stderr.splitlines() if l.startswith("racehunt: [")]
    assert 2 <= len(progress) <= 15, r.stderr
    assert progress[-1].startswith("racehunt: [30/30]"), r.stderr
    assert "\x1b[" not in r.stdout + r.stderr


def test_quiet_prints_only_the_summary(rh):
    s = scenario(rh)
    r = rh.run("--runs", 3, "--quiet", s)
    assert r.returncode == 0, r.explain()
    assert r.stderr == "", r.stderr
    assert "0 failures in 3 runs: failure rate < 63.2% at 95% confidence" in r.stdout, r.stdout
