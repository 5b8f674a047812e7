"""injectors/protocol.h as Python values: every `#define NAME value` whose value is a string
literal (adjacent literals joined), a decimal or hexadecimal integer (C suffixes dropped)."""
import re

from conftest import REPO

PROTOCOL_H = REPO / "injectors" / "protocol.h"
HASH_H = REPO / "injectors" / "racehunt_hash.h"

_DEFINE = re.compile(r"^#define\s+(RACEHUNT_\w+)[ \t]+([^\n]*?)\s*(?:/\*.*)?$", re.M)
_STRINGS = re.compile(r'^(?:"[^"\\]*"\s*)+$')
_INTEGER = re.compile(r"^(?:UINT64_C\()?(0x[0-9a-fA-F]+|\d+)[uUlL]*\)?$")


def defines(path=PROTOCOL_H):
    out = {}
    for name, value in _DEFINE.findall(path.read_text()):
        value = value.strip()
        if _STRINGS.match(value):
            out[name] = "".join(re.findall(r'"([^"\\]*)"', value))
        elif _INTEGER.match(value):
            out[name] = int(_INTEGER.match(value).group(1), 0)
    return out


def run_files(d=None):
    """{"EVENTS": ("py-", ".jsonl"), ...}: the per-process files of the run directory."""
    d = d or defines()
    out = {}
    for name, prefix in d.items():
        m = re.match(r"RACEHUNT_FILE_(\w+)_PREFIX$", name)
        if m:
            key = m.group(1)
            suffix = d.get("RACEHUNT_FILE_%s_SUFFIX" % key)
            if key == "SHIM":
                for sname, s in d.items():
                    sm = re.match(r"RACEHUNT_FILE_SHIM_(\w+)_SUFFIX$", sname)
                    if sm:
                        out["SHIM_" + sm.group(1)] = (prefix, s)
            else:
                assert suffix is not None, "%s has no _SUFFIX" % name
                out[key] = (prefix, suffix)
    return out
