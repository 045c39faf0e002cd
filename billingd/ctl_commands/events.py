"""``billingctl events``: print the daemon's events as they happen, like ``tail -f``.

Human output is one line per event (time, name, payload fields); ``--json``
prints each event's ``{name, payload, at, seq}`` object on its own line. It runs
until Ctrl-C (exit 0). A subscriber that falls too far behind is dropped by the
daemon (``events.dropped``): the line is printed, a warning goes to stderr, and
billingctl subscribes again.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from billingd.control.client import ControlClient
from billingd.ctl_commands.base import Arg, Command
from billingd.ctl_output import terminal_safe

DROPPED_EVENT = "events.dropped"


@dataclass(frozen=True)
class StreamCommand(Command):
    """A command that keeps printing: ``stream(client, args)`` returns the exit code."""

    stream: Callable[[ControlClient, argparse.Namespace], int] | None = None


def _human(event: dict[str, Any]) -> str:
    payload = event.get("payload")
    if isinstance(payload, dict):
        details = " ".join(f"{k}={_plain(v)}" for k, v in payload.items())
    else:
        details = _plain(payload)
    return terminal_safe(f"{event.get('at', '')}  {event.get('name', '')}  {details}".rstrip())


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value else json.dumps(value)
    return json.dumps(value, separators=(",", ":"), default=str)


def follow(client: ControlClient, args: argparse.Namespace) -> int:
    """Subscribe and print every event until interrupted."""
    prefixes = [p for p in (getattr(args, "filter", None) or []) if p]
    as_json = bool(args.json)
    try:
        while True:
            events = client.subscribe(prefixes)
            what = ", ".join(prefixes) if prefixes else "all events"
            print(f"billingctl: following {what} (Ctrl-C to stop)", file=sys.stderr, flush=True)
            for event in events:
                line = json.dumps(event, default=str) if as_json else _human(event)
                print(line, flush=True)
                if event.get("name") == DROPPED_EVENT:
                    print(
                        "billingctl: fell behind and was dropped by the daemon; "
                        "events were missed, subscribing again",
                        file=sys.stderr,
                    )
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return 0


COMMANDS: tuple[Command, ...] = (
    StreamCommand(
        ("events",),
        "subscribe",
        "Print events as they happen until Ctrl-C (one JSON object a line with --json).",
        (
            Arg(
                "--filter",
                "filter",
                "append",
                help="only events whose name starts with PREFIX, e.g. invoice. (repeatable)",
            ),
        ),
        stream=follow,
    ),
)
