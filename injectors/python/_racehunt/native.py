"""Native switch points: where the interpreter under test can switch threads by itself.

A GIL build of CPython hands the GIL to another thread only where its eval loop checks for
a pending drop request ("eval breaker"), besides inside C calls that release the GIL. A
yield point anywhere else makes an interleaving that build never makes (it is real on a
free-threaded build). points(code) is the set of bytecode offsets of `code` before which
such a check can happen, read from the code's instructions by the rules of the running
version (docs/SWITCH_POINTS.md has the rules, where they come from and how they were
measured):

- 3.8, 3.9: a check at the top of the loop before every instruction, except after the
  instructions that dispatch without one (FAST_DISPATCH) and before SETUP_FINALLY,
  SETUP_WITH, BEFORE_ASYNC_WITH and YIELD_FROM; at frame entry, after a resumed yield,
  and at an exception handler.
- 3.10: after the CALL_* instructions, at the target of JUMP_ABSOLUTE and of a taken
  POP_JUMP_IF_*, at frame entry, after a resumed yield and at an exception handler; the
  same four instructions are never preceded by a check.
- 3.11: after RESUME at a function's start or after a yield, after CALL and
  CALL_FUNCTION_EX, at the target of JUMP_BACKWARD and of a taken POP_JUMP_BACKWARD_IF_*.
- 3.12, 3.13: after RESUME (start, yield), after CALL, CALL_KW (3.13) and
  CALL_FUNCTION_EX, at the target of JUMP_BACKWARD.

The sets over-approximate where the check depends on run-time facts the static code does
not show (a specialised call that skips the check, a condition that is exactly True).
Computed once per code object. Python 3.8 syntax only.
"""
import dis
import sys

VERSION = sys.version_info[:2]

# 3.8/3.9: instructions that end in FAST_DISPATCH (no check before the next one).
_FAST = {
    (3, 8): {"NOP", "LOAD_FAST", "LOAD_CONST", "STORE_FAST", "POP_TOP", "ROT_TWO", "ROT_THREE",
             "ROT_FOUR", "DUP_TOP", "DUP_TOP_TWO", "JUMP_FORWARD", "CALL_FINALLY", "BEGIN_FINALLY",
             "EXTENDED_ARG"},
    (3, 9): {"NOP", "LOAD_FAST", "LOAD_CONST", "STORE_FAST", "POP_TOP", "ROT_TWO", "ROT_THREE",
             "ROT_FOUR", "DUP_TOP", "DUP_TOP_TWO", "JUMP_FORWARD", "LOAD_ASSERTION_ERROR", "IS_OP",
             "CONTAINS_OP", "EXTENDED_ARG"},
}
# 3.8-3.10: the top-of-loop check is skipped before these.
_NEVER_BEFORE = {"SETUP_FINALLY", "SETUP_WITH", "BEFORE_ASYNC_WITH", "YIELD_FROM"}
# 3.8-3.10: instructions whose target is an exception handler (entered through the check).
_HANDLERS = {"SETUP_FINALLY", "SETUP_WITH", "SETUP_ASYNC_WITH"}
# Instructions after which execution does not fall through to the next one.
_NO_FALLTHROUGH = {"RETURN_VALUE", "RETURN_CONST", "RAISE_VARARGS", "RERAISE", "JUMP_ABSOLUTE",
                   "JUMP_FORWARD", "JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT", "JUMP"}
_CALLS_310 = {"CALL_METHOD", "CALL_FUNCTION", "CALL_FUNCTION_KW", "CALL_FUNCTION_EX"}
# Instructions that touch only the running frame (its stack and fast locals): a switch
# right before one is, to every other thread, the same as a switch right after it.
_FRAME_ONLY = {"NOP", "LOAD_FAST", "LOAD_CONST", "STORE_FAST", "POP_TOP", "PUSH_NULL", "COPY",
               "SWAP", "DUP_TOP", "DUP_TOP_TWO", "ROT_TWO", "ROT_THREE", "ROT_FOUR", "ROT_N",
               "LOAD_FAST_CHECK", "LOAD_FAST_AND_CLEAR", "LOAD_FAST_LOAD_FAST",
               "STORE_FAST_LOAD_FAST", "STORE_FAST_STORE_FAST", "EXTENDED_ARG"}
_CALLS_311 = {"CALL", "CALL_FUNCTION_EX", "CALL_KW"}

_cache = {}


def _rules(version):
    """(after, at_target, entry): after(ins) -> a check follows ins when it falls through;
    at_target(ins) -> a check precedes ins's jump target when taken; entry -> frame entry
    and resumed yields check."""
    if version <= (3, 9):
        fast = _FAST.get(version, _FAST[(3, 9)])

        def after(ins):
            return ins.opname not in fast
        return after, after, True
    if version == (3, 10):
        return ((lambda ins: ins.opname in _CALLS_310),
                (lambda ins: ins.opname in ("JUMP_ABSOLUTE", "POP_JUMP_IF_FALSE", "POP_JUMP_IF_TRUE")),
                True)

    def after(ins):
        return ins.opname in _CALLS_311 or (ins.opname == "RESUME" and (ins.arg or 0) < 2)

    def at_target(ins):
        return ins.opname == "JUMP_BACKWARD" or ins.opname.startswith("POP_JUMP_BACKWARD_IF_")
    return after, at_target, False


def compute(code, version=VERSION, equivalent=True):
    """The offsets of `code` before which a GIL build of `version` may switch threads by
    itself (the running interpreter's instructions, read with its dis). With
    `equivalent`, also the offsets that only frame-local instructions separate from such
    a point (`y = f()` then `x = self.n`: the switch after the call is, to the other
    threads, one before the next line), so that a line can start at a native point."""
    after, at_target, entry = _rules(version)
    old = version <= (3, 10)
    instructions = list(dis.get_instructions(code))
    out = set()
    if entry and instructions:
        out.add(instructions[0].offset)
    jumps = set(dis.hasjabs) | set(dis.hasjrel)
    for i, ins in enumerate(instructions):
        nxt = instructions[i + 1].offset if i + 1 < len(instructions) else None
        if nxt is not None and ins.opname not in _NO_FALLTHROUGH and after(ins):
            out.add(nxt)
        if ins.opcode in jumps and isinstance(ins.argval, int):
            if at_target(ins):
                out.add(ins.argval)
            if old and ins.opname in _HANDLERS:
                out.add(ins.argval)
        if entry and nxt is not None and ins.opname == "YIELD_VALUE":
            out.add(nxt)
    if old:
        skip = {ins.offset for ins in instructions if ins.opname in _NEVER_BEFORE}
        out -= skip
    if equivalent:
        for i, ins in enumerate(instructions[:-1]):
            if ins.offset in out and ins.opname in _FRAME_ONLY:
                out.add(instructions[i + 1].offset)
    return frozenset(out)


def points(code):
    """compute(code) for the running interpreter, cached per code object."""
    found = _cache.get(code)
    if found is None:
        found = _cache[code] = compute(code)
    return found


_lines_cache = {}


def lines(code):
    """The lines of `code` one of whose runs of instructions (co_lines) starts at a native
    point: where a LINE event, which names the line and not the offset, may switch."""
    found = _lines_cache.get(code)
    if found is None:
        pts = points(code)
        try:
            found = frozenset(line for start, _end, line in code.co_lines()
                              if line is not None and start in pts)
        except AttributeError:      # before 3.10: no co_lines
            found = frozenset(line for start, line in dis.findlinestarts(code) if start in pts)
        _lines_cache[code] = found
    return found
