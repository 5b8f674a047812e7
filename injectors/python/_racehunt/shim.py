"""Arming the preload shim from Python (RACEHUNT_SHIM has arm_python=1): the shim injects
only once armed, and Python arms it when the workload's own code starts, so that the
interpreter's start-up is not perturbed. Python 3.8 syntax only.
"""
import os
import sys

from . import events
from . import protocol
from . import state


def arm_shim(run_dir, pid):
    """Arms the preload shim in this process by setting the armed bit in the mapped
    counters file the shim reads. Returns a warning or None."""
    try:
        fd = os.open(os.path.join(run_dir, protocol.SHIM_COUNTERS_FILE % pid), os.O_RDWR)
    except OSError:
        # No counters file: the shim is not loaded in this process (a static interpreter,
        # LD_PRELOAD cleared, a set-uid program); nothing to arm.
        return None
    try:
        head = os.pread(fd, protocol.SHIM_HEAD_SIZE, 0)
        magic = protocol.SHIM_MAGIC_OFFSET
        at_pid = protocol.SHIM_PID_OFFSET
        at_flags = protocol.SHIM_FLAGS_OFFSET
        if len(head) < protocol.SHIM_HEAD_SIZE \
                or int.from_bytes(head[magic:magic + 4], "little") != protocol.SHIM_MAGIC \
                or int.from_bytes(head[at_pid:at_pid + 4], "little", signed=True) != pid:
            return "the preload shim's counters file is not this process's; shim not armed"
        flags = int.from_bytes(head[at_flags:at_flags + 4], "little") | protocol.SHIM_FLAG_ARMED
        os.pwrite(fd, flags.to_bytes(4, "little"), at_flags)
    finally:
        os.close(fd)
    return None


def arm_when_main_starts():
    """racehunt asked for late arming (arm_python=1): arm the shim when the first frame of
    `__main__` starts (a script, `-m`, `-c`), through a one-shot profile function. Arming
    at the end of install() instead would perturb the rest of start-up (opening, reading
    and compiling the script), whose sync-point calls vary from run to run with the file
    system's caches, and so shift every later decision of the run."""
    def arm(frame, event, arg):
        if event != "call" or frame.f_code.co_name != "<module>" \
                or frame.f_globals.get("__name__") != "__main__":
            return
        if sys.getprofile() is arm:
            sys.setprofile(None)
        try:
            problem = arm_shim(state.run_dir, state.pid)
        except Exception as exc:
            problem = "could not arm the preload shim: %s: %s" % (type(exc).__name__, exc)
        if problem:
            events.warn(problem)
    if sys.getprofile() is not None:
        # Somebody (a chained sitecustomize, a .pth file) set a profile function: leave it
        # alone and arm now, with the rest of start-up perturbed.
        problem = arm_shim(state.run_dir, state.pid)
        if problem:
            events.warn(problem)
        return
    sys.setprofile(arm)
