"""systemd integration without dependencies: sd_notify(3), the watchdog and socket activation.

Every function is harmless outside systemd: notifications return False when
``$NOTIFY_SOCKET`` is unset, :func:`watchdog_interval` returns None and
:func:`listen_fds` an empty list.
"""

from __future__ import annotations

import os
import socket
import time

LISTEN_FDS_START = 3  # SD_LISTEN_FDS_START: the first passed file descriptor


def notify(message: str) -> bool:
    """Send ``message`` (``KEY=value`` lines) to the service manager.

    True when it was sent; False when ``$NOTIFY_SOCKET`` is unset or unusable.
    A name starting with ``@`` is a socket in the abstract namespace.
    """
    address = os.environ.get("NOTIFY_SOCKET", "")
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        return False  # unset, or a kind we do not speak (vsock:)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode("utf-8"), address)
    except OSError:
        return False
    return True


def ready() -> bool:
    """Start-up (or a reload) is complete."""
    return notify("READY=1")


def reloading() -> bool:
    """A configuration reload has begun; call :func:`ready` when it is done.

    Carries ``MONOTONIC_USEC``, which ``Type=notify-reload`` requires.
    """
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify(f"RELOADING=1\nMONOTONIC_USEC={usec}")


def stopping() -> bool:
    """Shutdown has begun."""
    return notify("STOPPING=1")


def status(text: str) -> bool:
    """A one-line status for ``systemctl status``; line breaks become spaces."""
    return notify("STATUS=" + " ".join(text.splitlines()))


def watchdog_ping() -> bool:
    """Tell the watchdog the daemon is alive."""
    return notify("WATCHDOG=1")


def watchdog_trigger() -> bool:
    """Ask systemd to act as if the watchdog timed out (the daemon found itself broken)."""
    return notify("WATCHDOG=trigger")


def watchdog_interval() -> float | None:
    """Seconds within which :func:`watchdog_ping` must be called, or None if no watchdog.

    Read from ``$WATCHDOG_USEC``; None as well when ``$WATCHDOG_PID`` names another
    process. Pinging at half the interval is the usual practice.
    """
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", ""))
        pid = os.environ.get("WATCHDOG_PID")
        if pid is not None and int(pid) != os.getpid():
            return None
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None


def listen_fds() -> list[socket.socket]:
    """The sockets systemd passed to this process (socket activation), in order.

    Honours ``$LISTEN_PID`` and ``$LISTEN_FDS`` (descriptors from 3 on), then removes
    them and ``$LISTEN_FDNAMES`` from the environment so children do not inherit
    them. The descriptors are made close-on-exec.
    """
    pid = os.environ.pop("LISTEN_PID", None)
    count = os.environ.pop("LISTEN_FDS", None)
    os.environ.pop("LISTEN_FDNAMES", None)
    try:
        if pid is None or count is None or int(pid) != os.getpid():
            return []
        number = int(count)
    except ValueError:
        return []
    sockets: list[socket.socket] = []
    for fd in range(LISTEN_FDS_START, LISTEN_FDS_START + max(number, 0)):
        os.set_inheritable(fd, False)
        sockets.append(socket.socket(fileno=fd))
    return sockets
