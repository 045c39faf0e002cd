"""The real billingctl, without paying its imports on every call.

Starting billingctl costs about half a second of CPU, nearly all of it importing the
method registry its options are generated from; the suite runs it hundreds of times.
A zygote process imports ``billingd.ctl`` once, then forks a child per call that runs
``billingd.ctl.main`` (what the ``billingctl`` script runs) with the call's arguments,
working directory and environment, and its stdout and stderr in files, as a fresh
process would; its exit code is the call's. (The environment is the caller's at the
call, but the imports were made with the zygote's: a call naming another
``PYTHONPATH`` starts the script.) Tests of the process itself (a pipe into
``head``, a terminal, another locale, the installed script) start the script.

Run as ``python -m tests.ctl_zygote``: requests and replies are JSON lines on stdin
and stdout.
"""

from __future__ import annotations

import atexit
import contextlib
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
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parent.parent


def _text(fd: int, encoding: str, errors: str) -> TextIO:
    return open(fd, "w", encoding=encoding, errors=errors, closefd=False)


def _child(request: dict[str, object]) -> int:
    """Run one billingctl call in this (forked) process; its exit code."""
    import billingd.ctl

    os.chdir(str(request["cwd"]))
    os.environ.clear()
    os.environ.update(request["env"])  # type: ignore[arg-type]
    for fd, name in ((1, "out"), (2, "err")):
        target = os.open(str(request[name]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    encoding = sys.stdout.encoding  # as Python sets it up for a fresh process's pipes
    sys.stdout = sys.__stdout__ = _text(1, encoding, sys.stdout.errors)
    sys.stderr = sys.__stderr__ = _text(2, encoding, "backslashreplace")
    sys.argv = ["billingctl", *request["argv"]]  # type: ignore[misc]
    try:
        code = billingd.ctl.main(list(request["argv"]))  # type: ignore[call-overload]
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


def serve() -> None:
    """The zygote: one request per line, a fork per request."""
    import billingd.ctl  # noqa: F401  (the import the children share)

    protocol = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            os._exit(_child(request))
        protocol.write(json.dumps({"pid": pid}) + "\n")
        protocol.flush()
        _, status = os.waitpid(pid, 0)
        protocol.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
        protocol.flush()


class Zygote:
    """The test process's side: starts the zygote on first use, one call at a time."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._files: Path | None = None
        self.pythonpath = os.environ.get("PYTHONPATH")  # the zygote's imports follow it

    def _start(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tests.ctl_zygote"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=ROOT,
            )
            self._files = Path(tempfile.mkdtemp(prefix="ctl-"))
            atexit.register(self.stop)
        return self._process

    def _reply(self, process: subprocess.Popen[str], timeout: float | None) -> dict[str, int]:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise TimeoutError
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("the billingctl zygote exited")
        return json.loads(line)

    def run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        """``billingctl *argv``, its output captured as ``subprocess.run(text=True)`` would."""
        with self._lock:
            process = self._start()
            assert self._files is not None
            out, err = self._files / "stdout", self._files / "stderr"
            request = {
                "argv": argv,
                "cwd": os.getcwd(),
                "env": dict(os.environ),
                "out": str(out),
                "err": str(err),
            }
            assert process.stdin is not None
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            pid = self._reply(process, 30)["pid"]
            try:
                code = self._reply(process, timeout)["code"]
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                self._reply(process, 30)
                raise subprocess.TimeoutExpired(["billingctl", *argv], timeout) from None
            return subprocess.CompletedProcess(
                ["billingctl", *argv], code, out.read_text(), err.read_text()
            )

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
