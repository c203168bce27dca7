"""`--reload`: which files are watched, when a reload starts, and a real app
edited in a temporary directory while a client keeps asking."""

from __future__ import annotations

import importlib.util
import os
import sys
import time

import pytest

from supervisor_support import RequestLoop, serve, wait_until, write_app  # noqa: F401
from zerodep_http.supervisor import reloader
from zerodep_http.supervisor.reloader import (
    DEBOUNCE, MAX_DELAY, POLL_INTERVAL, Reloader, SourceTree, app_roots, forget_bytecode)

# --- what is watched -------------------------------------------------------------------


def touch(path, text="x = 1\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_python_files_are_watched_and_noise_is_not(tmp_path):
    watched = [touch(tmp_path / "app.py"), touch(tmp_path / "pkg" / "mod.py"),
               touch(tmp_path / "pkg" / "deep" / "er.py")]
    for ignored in (".venv/lib/x.py", ".git/hooks/h.py", "pkg/__pycache__/mod.py",
                    "venv/lib/python3.11/site-packages/dep.py", "pkg/.hidden/h.py",
                    "README.md", "pkg/data.json"):
        touch(tmp_path / ignored)
    assert sorted(SourceTree([str(tmp_path)]).scan()) == sorted(watched)


def test_include_patterns_by_name_and_by_path(tmp_path):
    page = touch(tmp_path / "templates" / "index.html")
    nested = touch(tmp_path / "templates" / "mail" / "welcome.html")
    config = touch(tmp_path / "settings.toml")
    touch(tmp_path / "static" / "app.css")
    tree = SourceTree([str(tmp_path)], ["*.toml", "templates/*"])
    assert sorted(tree.scan()) == sorted([page, nested, config])


def test_symlinked_directories_are_not_followed(tmp_path):
    touch(tmp_path / "real" / "a.py")
    os.symlink(tmp_path, tmp_path / "real" / "loop")
    assert list(SourceTree([str(tmp_path)]).scan()) == [str(tmp_path / "real" / "a.py")]


def test_app_roots_without_importing(tmp_path, monkeypatch):
    (tmp_path / "single.py").write_text("raise SystemExit('imported!')\n")
    (tmp_path / "proj" / "web").mkdir(parents=True)
    (tmp_path / "proj" / "__init__.py").write_text("raise SystemExit('imported!')\n")
    (tmp_path / "proj" / "web" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert app_roots("single:app", "x:app") == [str(tmp_path)]
    assert app_roots("proj.web:create()", "x:app") == [str(tmp_path / "proj")]
    assert app_roots("no_such_module_here:app", "x:app") == []
    assert "proj" not in sys.modules and "single" not in sys.modules
    demo = os.path.dirname(importlib.util.find_spec("zerodep_http").origin)
    assert app_roots(None, "zerodep_http.demo:app") == [demo]


def test_forget_bytecode(tmp_path):
    source = touch(tmp_path / "mod.py")
    cached = importlib.util.cache_from_source(source)
    os.makedirs(os.path.dirname(cached))
    open(cached, "wb").close()
    forget_bytecode([source, str(tmp_path / "gone.py"), str(tmp_path / "page.html")])
    assert not os.path.exists(cached)


# --- when a reload is due ------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_change_reloads_once_the_tree_is_quiet(tmp_path):
    module = touch(tmp_path / "a.py")
    clock = Clock()
    watcher = Reloader(SourceTree([str(tmp_path)]), clock=clock, cpu_clock=lambda: 0.0)
    assert watcher.watched == 1
    assert watcher.poll() == []          # not yet time to look
    clock.now += POLL_INTERVAL
    assert watcher.poll() == []          # nothing changed
    touch(tmp_path / "a.py", "x = 2\n")
    new = touch(tmp_path / "b.py")
    clock.now += POLL_INTERVAL
    assert watcher.poll() == []          # changed: wait for it to settle
    assert watcher.next_scan == clock.now + DEBOUNCE
    clock.now += DEBOUNCE
    assert watcher.poll() == sorted([module, new])
    clock.now += POLL_INTERVAL
    assert watcher.poll() == []          # reported once
    os.unlink(new)
    clock.now += POLL_INTERVAL
    watcher.poll()
    clock.now += DEBOUNCE
    assert watcher.poll() == [new]       # a removed file is a change too


def test_a_tree_that_keeps_changing_still_reloads(tmp_path):
    touch(tmp_path / "a.py")
    clock = Clock()
    watcher = Reloader(SourceTree([str(tmp_path)]), clock=clock, cpu_clock=lambda: 0.0)
    clock.now += POLL_INTERVAL
    due = []
    for step in range(int(MAX_DELAY / DEBOUNCE) + 3):
        touch(tmp_path / "a.py", f"x = {step}\n" + "#" * step)
        clock.now += DEBOUNCE
        due = watcher.poll()
        if due:
            break
    assert due == [str(tmp_path / "a.py")]


def test_a_big_tree_is_scanned_less_often(tmp_path):
    touch(tmp_path / "a.py")
    cpu = iter(range(1000))
    watcher = Reloader(SourceTree([str(tmp_path)]), clock=Clock(),
                       cpu_clock=lambda: next(cpu) * 0.05)  # every scan takes 50 ms
    assert watcher.interval == pytest.approx(0.05 / reloader.CPU_BUDGET)


# --- a real app, edited ------------------------------------------------------------------

FAST = ["--graceful-timeout", "2", "--timeout", "2", "-b", "127.0.0.1:0"]


def test_edits_reload_without_a_failed_request(serve, tmp_path):
    write_app(tmp_path, "v1")
    server = serve("webapp:app", "-w", "2", "--reload", *FAST).ready()
    server.wait_for(r"Watching \d+ files? under .* for changes \(--reload\)")
    loop = RequestLoop(server.port)
    loop.start()
    wait_until(lambda: loop.bodies, what="the first answers")

    # A good edit is served within 3 s of the write.
    write_app(tmp_path, "v2")
    written = time.monotonic()
    wait_until(lambda: loop.bodies[-1] == "v2", timeout=10, interval=0.01, what="v2")
    served_after = time.monotonic() - written
    server.wait_for("Reload complete: generation 2")
    assert served_after < 3.0, f"the edit was served {served_after:.2f} s after the write"
    server.wait_for(r"Reloading: webapp\.py changed")

    # A broken edit keeps v2 serving, and says why once, with its traceback.
    (tmp_path / "webapp.py").write_text("VERSION = 'v3'\ndef broken(:\n")
    server.wait_for(r"Reload failed .* generation 2 keeps serving")
    assert server.count("Traceback") == 1
    assert server.count("SyntaxError") == 1
    assert server.count(r"Booting worker .* \(generation 3\)") == 1  # one worker tried it
    answered = len(loop.bodies)
    wait_until(lambda: len(loop.bodies) > answered + 20, what="answers after the failure")
    assert set(loop.bodies[answered:]) == {"v2"}

    # Fixing it reloads again.
    write_app(tmp_path, "v4")
    wait_until(lambda: loop.bodies[-1] == "v4", timeout=10, interval=0.01, what="v4")
    server.wait_for("Reload complete: generation 4 serving with 2 workers")
    loop.stop()
    assert loop.failures == []
    assert server.count("Traceback") == 1
    assert server.stop() == 0


def test_reload_dir_and_include(serve, tmp_path):
    app_dir, templates = tmp_path / "app", tmp_path / "templates"
    app_dir.mkdir()
    templates.mkdir()
    write_app(app_dir, "v1")
    (templates / "page.html").write_text("<p>1</p>")
    server = serve("webapp:app", "-w", "1", "--reload", "--reload-dir", str(templates),
                   "--reload-include", "*.html", *FAST, cwd=app_dir).ready()
    server.wait_for("Watching 2 files")
    (templates / "page.html").write_text("<p>2</p>")
    server.wait_for(r"Reloading: .*page\.html changed")
    server.wait_for("Reload complete: generation 2")
    # Editing what is not watched does nothing.
    (app_dir / "notes.txt").write_text("x")
    (app_dir / "__pycache__").mkdir(exist_ok=True)
    (app_dir / "__pycache__" / "stale.py").write_text("x")
    time.sleep(3 * POLL_INTERVAL)
    assert server.count(r"Reloading: .* changed") == 1
    assert server.stop() == 0
