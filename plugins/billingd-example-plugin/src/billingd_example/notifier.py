"""The ``example-file`` notifier: appends the events it is told to a JSON-lines file.

billingd may deliver an event again after a crash (at least once), so the notifier
drops an event whose ``id`` the file already holds.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from billingd.plugins import PermanentFailure


class FileNotifier:
    name = "example-file"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.configure({})

    def configure(self, settings: dict[str, Any]) -> None:
        events_file = settings.get("events_file")
        events = settings.get("events")
        with self._lock:
            self.events_file = Path(events_file) if events_file else None
            self.events = None if events is None else {str(name) for name in events}

    def wants(self, event_name: str) -> bool:
        return self.events_file is not None and (self.events is None or event_name in self.events)

    def received(self) -> list[dict[str, Any]]:
        """Every event in the file, oldest first."""
        if self.events_file is None or not self.events_file.exists():
            return []
        lines = self.events_file.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def notify(self, event: dict[str, Any]) -> None:
        with self._lock:
            if self.events_file is None:  # unconfigured since it was queued
                raise PermanentFailure("example-file: no events_file set")
            if any(seen.get("id") == event["id"] for seen in self.received()):
                return
            self.events_file.parent.mkdir(parents=True, exist_ok=True)
            with self.events_file.open("a", encoding="utf-8") as out:
                out.write(json.dumps(event, default=str) + "\n")
