"""The ``billingd`` command: serve, check-config, migrate, backup, restore, doctor, demo,
plugins."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from billingd import __version__
from billingd.config import ConfigError, load_config
from billingd.hardening import config_file_problems, private_files

DOCTOR_CHECKS = ("ledger", "invoices", "numbering", "allocations", "documents", "outbox", "runs")
"""``billingd doctor --check`` names (billingd.services.doctor.CHECKS, not imported here:
the other commands start without the services)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="billingd", description="The billingd daemon.")
    parser.add_argument("--version", action="version", version=f"billingd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument(
            "--config",
            type=Path,
            help="config file (default: $BILLINGD_CONFIG, "
            "/etc/billingd/billingd.yaml, or the user config dir)",
        )
        return sub

    command("serve", "Run the daemon in the foreground (systemd runs this).")
    check = command("check-config", "Validate the config file and print the result.")
    check.add_argument("--json", action="store_true", help="print the effective config as JSON")
    command("migrate", "Create or upgrade the database schema, then exit.")
    command("plugins", "List the plugins that load, with their versions.")
    backup = command("backup", "Write a consistent copy of the database (daemon may run).")
    backup.add_argument("-o", "--output", type=Path, required=True, help="file to write")
    restore = command(
        "restore",
        "Put a backup made by 'billingd backup' in place of the configured database "
        "(the daemon stopped), then check it as doctor does.",
    )
    restore.add_argument("backup_file", type=Path, metavar="FILE", help="the backup")
    restore.add_argument(
        "--force", action="store_true", help="replace a database that is there already"
    )
    doctor = command(
        "doctor",
        "Check the database and documents for broken invariants (read-only; the daemon "
        "may run). Exit 0 all well, 1 problems found, 2 could not check.",
    )
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor.add_argument(
        "--check",
        action="append",
        choices=DOCTOR_CHECKS,
        metavar="NAME",
        help=f"run only this check (repeatable): {', '.join(DOCTOR_CHECKS)}",
    )
    demo = command("demo", "Create a demo database in your data directory and serve it.")
    demo.add_argument("--tui", action="store_true", help="also open the terminal UI")
    demo.add_argument("--reset", action="store_true", help="start again from fresh demo data")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    private_files()  # whatever billingd creates: 0640 files, 0750 directories
    if args.command == "demo":
        from billingd.demo import run_demo

        return run_demo(config_path=args.config, open_tui=args.tui, reset=args.reset)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"billingd: config error: {exc}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        for problem in (unsafe := config_file_problems(config)):
            print(f"billingd: config error: {problem}", file=sys.stderr)
        if unsafe:
            return 2
        if args.json:
            print(json.dumps(config.to_dict(), indent=2))
        else:
            print(f"config OK: {config.source or 'built-in defaults'}")
        return 0
    if args.command == "migrate":
        from billingd.db.connection import open_database
        from billingd.db.migrations import migrate

        print(f"schema version {migrate(open_database(config.database))}")
        return 0
    if args.command == "backup":
        from billingd.backup import BackupError, backup_database

        try:
            print(f"backup written to {backup_database(config.database, args.output)}")
        except BackupError as exc:
            print(f"billingd: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "doctor":
        from billingd.doctor import run_doctor

        return run_doctor(config, as_json=args.json, checks=args.check)
    if args.command == "restore":
        from billingd.backup import restore_command

        return restore_command(config, args.backup_file, force=args.force)
    if args.command == "plugins":
        from billingd.plugins import load_plugins

        for plugin in load_plugins(
            config.plugins.get("settings"), config.plugins.get("enabled")
        ).plugin_list():
            print(
                f"{plugin['name']:<24} {plugin['version'] or '-':<10} {', '.join(plugin['hooks'])}"
            )
        return 0
    from billingd.daemon import serve

    return serve(config)
