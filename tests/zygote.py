"""The real ``billingd`` and ``billingctl``, without paying their imports every time.

Starting either costs a second or so of CPU, nearly all of it imports (the method
registry, the services, the plugins); the suite starts them hundreds of times. A
zygote process imports them once; each start is a fork of it that runs the entry
point the installed script runs (``billingd.cli.main``, ``billingd.ctl.main``) with
its own arguments, working directory, environment and output files, as a fresh
process would. Its pid, signals and exit code are its own: the test holds a
:class:`Child`, which answers like :class:`subprocess.Popen`.

A start naming another interpreter or another ``PYTHONPATH`` than the zygote's (the
imports were made with those) is a real process; so are the tests of the process
itself (a pipe into ``head``, a terminal, another locale, another user).

The zygote runs as ``python -m tests.zygote``: requests and replies are JSON lines on
its stdin and stdout; a child's exit is reported when it happens.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
import types
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
MAIN_MODULES = {"billingd": "billingd.__main__", "billingctl": "billingd.ctl"}


# -- the zygote's side ----------------------------------------------------------------------


def _text(fd: int, encoding: str, errors: str) -> TextIO:
    return open(fd, "w", encoding=encoding, errors=errors, closefd=False)


def _entry(program: str) -> Any:
    module = importlib.import_module("billingd.cli" if program == "billingd" else "billingd.ctl")
    return module.main


def _child(request: dict[str, Any], closing: list[int]) -> int:
    """Become the requested program in this forked process; its exit code."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in closing:
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    if request.get("umask") is not None:  # as the shell that starts it would have it
        os.umask(request["umask"])
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if request["append"] else os.O_TRUNC)
    for fd, name in ((1, "out"), (2, "err")):
        target = os.open(request[name], flags, 0o600)
        os.dup2(target, fd)
        os.close(target)
    encoding = sys.stdout.encoding  # as Python sets it up for a fresh process's pipes
    sys.stdout = sys.__stdout__ = _text(1, encoding, sys.stdout.errors)
    sys.stderr = sys.__stderr__ = _text(2, encoding, "backslashreplace")
    sys.stdin = sys.__stdin__ = open(0, encoding=encoding, closefd=False)  # noqa: SIM115
    # ``python -m billingd``'s main module, not this one (multiprocessing reads it)
    spec = importlib.util.find_spec(MAIN_MODULES[request["program"]])
    assert spec is not None and spec.origin is not None
    main = types.ModuleType("__main__")
    main.__spec__, main.__file__ = spec, spec.origin
    sys.modules["__main__"] = main
    sys.argv = [spec.origin, *request["argv"]]
    _use_renderer_forkserver()
    try:
        code = _entry(request["program"])(request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # as at exit: a closed reader is not an error
            stream.flush()
    return code or 0


def _start_renderer_forkserver() -> None:
    """Start the multiprocessing forkserver the daemons' renderer processes come from,
    with the renderer plugins imported, before any daemon is forked: each forked daemon
    inherits it. A renderer is then a fork of a clean single-threaded process that has
    the plugins' modules, as the daemon's own forkserver would be after the imports,
    not a new interpreter importing them again for every daemon."""
    import multiprocessing
    import multiprocessing.forkserver
    from importlib.metadata import entry_points

    plugins = sorted({entry.module for entry in entry_points(group="billingd")})
    multiprocessing.set_forkserver_preload(["billingd.document_pool", *plugins])
    multiprocessing.forkserver.ensure_running()


def _stop_renderer_forkserver() -> None:
    """Stop the forkserver and any renderer process still running (one holds the
    forkserver's liveness pipe open, so neither would end by itself)."""
    import multiprocessing.forkserver

    server = multiprocessing.forkserver._forkserver._forkserver_pid
    if server is None:
        return
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == server:  # a renderer process
                os.kill(int(stat.parent.name), signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(server, signal.SIGKILL)
    os.waitpid(server, 0)


def _use_renderer_forkserver() -> None:
    """In a forked child: use the zygote's forkserver. multiprocessing checks that its
    forkserver runs by waiting on its pid, which only the zygote, its parent, may; it
    runs as long as the zygote does, which outlives its children."""
    import multiprocessing.forkserver
    import multiprocessing.resource_tracker

    server = multiprocessing.forkserver._forkserver
    server.ensure_running = multiprocessing.resource_tracker.ensure_running  # type: ignore[method-assign]


def serve() -> None:
    """Fork a child per request; report each child's exit as it happens."""
    for name in ("billingd.cli", "billingd.ctl", "billingd.daemon"):
        importlib.import_module(name)
    from billingd.plugins import load_plugins

    load_plugins({}, None)  # the plugins' own imports
    _start_renderer_forkserver()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_write)
    requests = os.fdopen(0, "rb", buffering=0)
    children: set[int] = set()

    def send(message: dict[str, Any]) -> None:
        os.write(1, (json.dumps(message) + "\n").encode())

    def reap() -> None:
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                children.discard(pid)
                send({"exit": pid, "code": os.waitstatus_to_exitcode(status)})

    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(requests, selectors.EVENT_READ)
        selector.register(wake_read, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj == wake_read:
                    os.read(wake_read, 4096)
                    continue
                data = os.read(0, 65536)
                if not data:  # the test process is gone: so are its daemons
                    for pid in children:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    _stop_renderer_forkserver()
                    return
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    request = json.loads(line)
                    pid = os.fork()
                    if pid == 0:
                        os._exit(_child(request, [wake_read, wake_write, selector.fileno()]))
                    children.add(pid)
                    send({"pid": pid})
            reap()


# -- the test process's side ----------------------------------------------------------------


class Child:
    """A program forked by the zygote, with :class:`subprocess.Popen`'s methods."""

    def __init__(self, zygote: Zygote, pid: int, args: list[str]) -> None:
        self.zygote, self.pid, self.args = zygote, pid, args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        self.returncode = self.zygote.exit_code(self.pid, 0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self.returncode = self.zygote.exit_code(self.pid, timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """Starts the zygote on first use; any number of children at a time."""

    def __init__(self) -> None:
        self.python = sys.executable
        self.pythonpath = os.environ.get("PYTHONPATH")  # the zygote's imports follow it
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # one start at a time
        self._exits: dict[int, int] = {}
        self._pids: list[int] = []
        self._changed = threading.Condition()
        self._files: Path | None = None

    def serves(self, python: str = sys.executable) -> bool:
        """Whether a start with this interpreter and the current environment may fork."""
        return python == self.python and os.environ.get("PYTHONPATH") == self.pythonpath

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [self.python, "-m", "tests.zygote"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                cwd=ROOT,
            )
            threading.Thread(target=self._read, args=(self._process,), daemon=True).start()
            self._files = Path(tempfile.mkdtemp(prefix="zygote-"))
            atexit.register(self.stop)
        return self._process

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            message = json.loads(line)
            with self._changed:
                if "pid" in message:
                    self._pids.append(message["pid"])
                else:
                    self._exits[message["exit"]] = message["code"]
                self._changed.notify_all()
        with self._changed:
            self._pids.append(-1)  # the zygote is gone
            self._changed.notify_all()

    def exit_code(self, pid: int, timeout: float | None) -> int | None:
        with self._changed:
            self._changed.wait_for(lambda: pid in self._exits, timeout)
            return self._exits.get(pid)

    def start(
        self,
        program: str,
        argv: list[str],
        out: Path,
        err: Path,
        append: bool = False,
        umask: int | None = None,
    ) -> Child:
        """Fork ``program`` (``billingd`` or ``billingctl``) with ``argv`` (and ``umask``,
        by default the zygote's)."""
        request = {
            "umask": umask,
            "program": program,
            "argv": argv,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "out": str(out),
            "err": str(err),
            "append": append,
        }
        with self._lock:
            process = self._running()
            assert process.stdin is not None
            process.stdin.write(json.dumps(request).encode() + b"\n")
            process.stdin.flush()
            with self._changed:
                self._changed.wait_for(lambda: bool(self._pids), 60)
                pid = self._pids.pop(0) if self._pids else -1
        if pid < 0:
            raise RuntimeError("the zygote did not start the program")
        return Child(self, pid, [program, *argv])

    def run(
        self, program: str, argv: list[str], timeout: float, umask: int | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Like ``subprocess.run(capture_output=True, text=True)``."""
        self._running()
        assert self._files is not None
        folder = Path(tempfile.mkdtemp(dir=self._files))
        out, err = folder / "stdout", folder / "stderr"
        child = self.start(program, argv, out, err, umask=umask)
        try:
            code = child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(30)
            raise
        done = subprocess.CompletedProcess(child.args, code, out.read_text(), err.read_text())
        shutil.rmtree(folder, ignore_errors=True)
        return done

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            self._process.wait(timeout=30)
        if self._files is not None:
            shutil.rmtree(self._files, ignore_errors=True)


ZYGOTE = Zygote()

if __name__ == "__main__":
    serve()
