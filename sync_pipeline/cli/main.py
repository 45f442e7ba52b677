"""`sync-pipeline` command line: the emulator, the demo, the Dagster UI and maintenance commands."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TypeAlias


def _scale(value: str) -> str | int:
    if value == "demo":
        return "demo"
    try:
        number = int(value.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--scale must be 'demo' or a number of Leads, not {value!r}") from None
    if number < 10:
        raise argparse.ArgumentTypeError("--scale must be 'demo' or a number of Leads of at least 10")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sync-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    # In the order `sync-pipeline --help` lists them.
    _add_emulator(commands)
    _add_bench(commands)
    commands.add_parser("demo", help="run the main job once against the emulator's demo org, with a summary")
    commands.add_parser("dev", help="start the emulator and the Dagster UI; Ctrl-C stops both")
    connect = commands.add_parser("connect", help="the login to Salesforce")
    connect_commands = connect.add_subparsers(dest="connect_command", required=True)
    connect_commands.add_parser(
        "check", help="log in as a sync would; print the org, user, login mode, API version and usage, and whether "
                      "the settings' fields exist (exit 0 or 1)")
    _add_mapping(commands)
    db = commands.add_parser("db", help="the marketing database")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="create or migrate the marketing database to the latest schema")
    _add_contacts(commands)
    org = commands.add_parser("org", help="the Salesforce org this database is bound to")
    org_commands = org.add_subparsers(dest="org_command", required=True)
    org_commands.add_parser("show", help="print the bound org")
    org_commands.add_parser("reset", help="unbind the org (after a deliberate switch of organizations)")
    return parser


# What ``add_subparsers()`` returns; argparse keeps the class private, so it is named once, here.
_Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _add_emulator(commands: _Commands) -> None:
    """``emulator serve``: the org it generates, its faults and its login."""
    emulator = commands.add_parser("emulator", help="the local Salesforce emulator")
    emulator_commands = emulator.add_subparsers(dest="emulator_command", required=True)
    serve = emulator_commands.add_parser("serve", help="run the emulator in the foreground (127.0.0.1 only)")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--seed", type=int, default=7, help="seed of the generated org (deterministic)")
    serve.add_argument("--scale", type=_scale, default="demo",
                       help="'demo' (3,000 Leads) or a number of Leads (with a quarter as many Contacts)")
    serve.add_argument("--faults", default=None, help="e.g. latency_ms=50,error_rate=0.01,lock_ids=00Q...;00Q...")
    serve.add_argument("--username", default=None)
    serve.add_argument("--password", default=None)
    serve.add_argument("--security-token", default=None)
    serve.add_argument("--sandbox", action="store_true", help="a sandbox org: log in with SALESFORCE_DOMAIN=test")
    serve.add_argument("--tls", action="store_true",
                       help="serve HTTPS with a certificate made at start (its file is printed, to trust); every URL "
                            "it answers with leads back to it, so any Salesforce client can log in unmodified")
    serve.add_argument("--consumer-key", default=None, help="the External Client App's consumer key (OAuth logins)")
    serve.add_argument("--consumer-secret", default=None, help="the app's consumer secret (client credentials)")
    serve.add_argument("--jwt-certificate", default=None,
                       help="PEM certificate (or public key) of the app, for JWT logins; without it a key pair is "
                            "made at start and its private key written to a file whose path is printed")
    serve.add_argument("--events", default=None, help="also write the seed's engagement events to this JSONL file")
    serve.add_argument("--events-people", type=int, default=None,
                       help="how many people --events covers (the first Leads, then Contacts, with a valid email; "
                            "default 5,000)")


def _add_bench(commands: _Commands) -> None:
    bench = commands.add_parser("bench", help="measure the performance bars and print the figures")
    bench.add_argument("--leads", type=_scale, default=800_000,
                       help="Leads of the emulated org (with a quarter as many Contacts; 800,000 = 1,000,000 in all)")
    bench.add_argument("--people", type=_scale, default=1_000_000,
                       help="Leads of the emulated org for the sync part (with a quarter as many Contacts, and "
                            "engagement events for a quarter as many people)")
    bench.add_argument("--database", default="",
                       help="PostgreSQL URL for the pull (default BENCH_DATABASE_URL); for the sync part, the URL of a "
                            "PostgreSQL server (where it creates and drops the database sync_bench) or 'sqlite'")
    bench.add_argument("--output", default="data/bench/pull.json",
                       help="where the pull's figures are written as JSON (push.json and sync.json beside it)")
    bench.add_argument("--only", choices=("emulator", "pull", "push", "sync"), default=None,
                       help="run one part only")


def _add_mapping(commands: _Commands) -> None:
    mapping = commands.add_parser("mapping", help="the contact mapping of the settings")
    mapping_commands = mapping.add_subparsers(dest="mapping_command", required=True)
    suggest = mapping_commands.add_parser(
        "suggest", help="write a starting contact_mapping from the org's describe metadata, for you to edit")
    suggest.add_argument("--output", default="data/mapping.suggested.yaml", help="the YAML file to write")
    suggest.add_argument("--force", action="store_true", help="replace the file if it exists")


def _add_contacts(commands: _Commands) -> None:
    """``contacts edit``: the person (by email or key, exactly one) and the column=value edits."""
    contacts = commands.add_parser("contacts", help="people in All Contacts")
    contacts_commands = contacts.add_subparsers(dest="contacts_command", required=True)
    edit = contacts_commands.add_parser(
        "edit", help="record marketing-side field edits of a person (column=value ...) for the next push")
    who = edit.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="the person's email")
    who.add_argument("--key", help="the person's contact_key")
    edit.add_argument("assignments", nargs="+", metavar="column=value", help='e.g. title="VP Sales" (empty: null)')


def _serve_emulator(args: argparse.Namespace) -> int:
    """``emulator serve``: a certificate that cannot be read is refused before the org is generated."""
    from pathlib import Path

    from sync_pipeline.emulator.app import serve

    certificate = Path(args.jwt_certificate) if args.jwt_certificate else None
    if certificate is not None:
        from sync_pipeline.emulator.oauth import public_key_of

        try:
            public_key_of(certificate.read_bytes())
        except (OSError, ValueError) as error:
            print(f"--jwt-certificate: {certificate} cannot be used ({error}) — give the PEM certificate (or "
                  "public key) of the app")
            return 2
    serve(
        args.port,
        seed=args.seed,
        scale=args.scale,
        faults=args.faults,
        username=args.username,
        password=args.password,
        security_token=args.security_token,
        sandbox=args.sandbox,
        events_path=Path(args.events) if args.events else None,
        events_people=args.events_people,
        consumer_key=args.consumer_key,
        consumer_secret=args.consumer_secret,
        jwt_certificate=certificate,
        tls=args.tls,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "emulator":
        return _serve_emulator(args)
    if args.command == "connect":
        from sync_pipeline.cli.connect import connect_check_command

        return connect_check_command()
    if args.command == "bench":
        from sync_pipeline.cli.bench import bench_command

        return bench_command(args)
    if args.command == "demo":
        from sync_pipeline.cli.demo import run_demo

        return run_demo()
    if args.command == "dev":
        from sync_pipeline.cli.dev import run_dev

        return run_dev()
    if args.command == "mapping":
        from pathlib import Path

        from sync_pipeline.cli.mapping import suggest_mapping_command

        return suggest_mapping_command(Path(args.output), force=args.force)
    if args.command == "db":
        from sync_pipeline.cli.db import upgrade_command

        return upgrade_command()
    if args.command == "contacts":
        from sync_pipeline.cli.edit import edit_command

        return edit_command(args.assignments, email=args.email, key=args.key)
    if args.command == "org":
        from sync_pipeline.cli.org import reset_org_command, show_org_command

        return show_org_command() if args.org_command == "show" else reset_org_command()
    return 2  # argparse makes this unreachable

