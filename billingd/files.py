"""Files written whole or not at all: under a hidden temporary name in the same
directory, flushed to disk, then renamed onto their final name; a reader (a portal's
file watcher, the renderer) sees a file whole or not at all."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_atomically(directory: Path, name: str, data: bytes) -> Path:
    """Write ``directory/name`` whole or not at all; returns the final path."""
    final = directory / name
    temporary = directory / f".{name}.{uuid.uuid4().hex[:12]}.part"
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return final


def sync_directory(directory: Path) -> None:
    """Make the renames in ``directory`` durable (a no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
