"""state.check_calm: the harness's `calm` file turns the perturbation off, once, and the
look for it is throttled (docs/PROTOCOL.md, "RACEHUNT_RUN_DIR/calm")."""
import time

from _racehunt import hooks, protocol, state


def test_calm_is_seen_once_the_file_exists_and_each_hook_runs_once(process_state, tmp_path, monkeypatch):
    monkeypatch.setattr(state, "calm", False)
    monkeypatch.setattr(state, "calm_next", 0.0)
    monkeypatch.setattr(state, "calm_after", time.time() + 3600)
    monkeypatch.setitem(hooks._hooks, "calm", [])
    calls = []
    hooks.add("calm", lambda: calls.append("yields"))
    hooks.add("calm", lambda: 1 / 0)            # a failing hook does not stop the others
    hooks.add("calm", lambda: calls.append("loop"), order=1)
    state.run_dir = str(tmp_path)

    (tmp_path / protocol.CALM_FILE).write_text('{"cpu_ms": 290, "window_ms": 300}\n')
    # Before the run's timeout the file is not looked for.
    assert state.check_calm() is False
    assert calls == []
    # After it: looked for at most every CALM_CHECK seconds.
    monkeypatch.setattr(state, "calm_after", time.time() - 1)
    (tmp_path / protocol.CALM_FILE).unlink()
    assert state.check_calm() is False
    (tmp_path / protocol.CALM_FILE).write_text('{"cpu_ms": 290, "window_ms": 300}\n')
    assert state.check_calm() is False
    monkeypatch.setattr(state, "calm_next", 0.0)
    assert state.check_calm() is True
    assert calls == ["yields", "loop"]
    # Calm stays, and the hooks do not run again.
    (tmp_path / protocol.CALM_FILE).unlink()
    monkeypatch.setattr(state, "calm_next", 0.0)
    assert state.check_calm() is True
    assert calls == ["yields", "loop"]


def test_no_run_directory_or_no_calm_after_is_never_calm(process_state, tmp_path, monkeypatch):
    monkeypatch.setattr(state, "calm", False)
    monkeypatch.setattr(state, "calm_next", 0.0)
    monkeypatch.setattr(state, "calm_after", time.time() - 1)
    state.run_dir = None
    assert state.check_calm() is False
    # A run racehunt does not perturb has no calm_after: never looked for.
    state.run_dir = str(tmp_path)
    (tmp_path / protocol.CALM_FILE).write_text("{}\n")
    monkeypatch.setattr(state, "calm_after", None)
    assert state.check_calm() is False
