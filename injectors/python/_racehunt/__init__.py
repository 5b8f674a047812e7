"""racehunt's Python injectors: everything racehunt does inside a Python process.

sitecustomize.py (through _racehunt_site.py) imports `installer` and calls install() when
RACEHUNT_PROTOCOL is set; docs/PROTOCOL.md is the contract. The modules fall in two kinds:

- core, which any module may import: `protocol` (names shared with injectors/protocol.h),
  `config` (config.json, typed, with its defaults), `jsonio`, `seeds`, `state` (the process
  state and its reset in a forked child), `hooks` (what layers registered), `events`;
- layers, which import only the core (and the layers below them): `yields`, `focus`,
  `tracelog` and `backends` (Python yield points), `control`, `access` and
  `control_locks` (controlled mode), `aio` and `aio_tasks` (asyncio), `forensics`,
  `threads` and `exits` (threading, imports, the end of the process), `faults`
  (faulthandler and the dump signal), `shim` (arming the preload shim), `server` (the
  fork server).

`installer` alone knows every layer: it imports the ones a run switches on and registers
their after-fork, exit, dump and counter hooks in `hooks`.

Design rules, each of which the tests check:
- Never raise into the workload. Every hook is wrapped so that an internal error becomes
  a `warning` event (or is dropped) and the workload carries on unchanged.
- Never change what the workload can observe: sys.path, __main__, sys.argv, the exit
  status, the global `random` state, and the output of excepthooks.
- Start-up is cheap: only modules that are built in or already loaded are imported at
  start-up; `threading` is patched when the workload imports it, not imported by us.
- Python 3.8 syntax, standard library only.
"""
