"""`sync-pipeline mapping suggest`: write a starting ``contact_mapping`` from the org's describe metadata.

Connects with the credentials of the environment (the same ones a sync uses), reads the describes of Lead, Contact
and Account (three API calls), and writes the suggested ``contact_mapping:`` section to a file for the engineer to
review and copy into the settings file. The suggestion itself is pure: :mod:`sync_pipeline.rules.mapping_suggest`.

Exit codes: 0 written; 1 the org could not be read, or the file exists and ``force`` was not given; 2 a required
environment variable is missing. Errors go to stderr; secrets are never printed.

Decisions where the design is silent: an existing file is never replaced without ``--force`` (it is likely an edited
mapping), and the check happens before connecting, so a refused run costs no API call. Missing parent directories
are created. An Account describe the user may not read only drops the Account fields (with a note); Lead and Contact
are required.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from sync_pipeline.rules.mapping_suggest import render_mapping_yaml, suggest_mapping
from sync_pipeline.salesforce.connect import SalesforceConnection, SalesforceResource
from sync_pipeline.salesforce.errors import SalesforceDisconnected


class DescribeFailed(Exception):
    """A describe the suggestion needs could not be read."""


def _error(message: str) -> None:
    print(message, file=sys.stderr)


def _describe(client: Salesforce, object_name: str) -> dict[str, Any]:
    try:
        result = client.restful(f"sobjects/{object_name}/describe")
    except SalesforceError as exc:
        raise DescribeFailed(
            f"could not read the describe of {object_name} ({type(exc).__name__}, HTTP {exc.status}) — give the "
            f"integration user read access to {object_name} and the View Setup permission"
        ) from None
    except requests.RequestException as exc:
        raise DescribeFailed(
            f"could not read the describe of {object_name} ({type(exc).__name__}) — check the network and retry"
        ) from None
    if not isinstance(result, dict) or not isinstance(result.get("fields"), list):
        raise DescribeFailed(f"the describe of {object_name} has no field list — check the org's API version")
    return result


def _write(output: Path, text: str, *, force: bool) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    # "x" refuses a file created since the check; with force, replace whatever is there.
    with output.open("w" if force else "x", encoding="utf-8") as handle:
        handle.write(text)


def _refusal(output: Path) -> str:
    return (
        f"{output} already exists; not overwriting it (it may hold your edited mapping) — "
        "write to another file, or pass --force to replace it"
    )


def suggest_mapping_command(output: Path, *, force: bool = False) -> int:
    """Write the suggested ``contact_mapping`` of the org in the environment to ``output``; the exit code."""
    # Everything that can be refused locally is, before connecting: a refused run costs no API call.
    refusal = _output_refusal(output, force=force)
    if refusal is not None:
        _error(refusal)
        return 1
    resource = SalesforceResource.from_environment()
    try:
        resource.credentials()  # a variable the login mode needs and lacks: named before any call
    except SalesforceDisconnected as exc:
        _error(str(exc))
        return 2
    try:
        org = _read_org(resource)
    except (SalesforceDisconnected, DescribeFailed) as exc:
        _error(str(exc))
        return 1
    mapping = suggest_mapping(org.lead, org.contact, org.account)
    notes = [*org.notes, *mapping.notes]
    try:
        _write(output, render_mapping_yaml(mapping, notes), force=force)
    except FileExistsError:
        _error(_refusal(output))
        return 1
    _print_summary(output, org.connection, len(mapping), notes)
    return 0


@dataclass(frozen=True)
class _OrgMetadata:
    """What the suggestion reads from the org: the connection (who the org is) and the describes."""

    connection: SalesforceConnection
    lead: dict[str, Any]
    contact: dict[str, Any]
    account: dict[str, Any] | None  # None: the user may not read it (a note says so)
    notes: list[str]


def _output_refusal(output: Path, *, force: bool) -> str | None:
    """Why ``output`` cannot be written, or None."""
    if output.is_dir():
        return f"{output} is a directory — name the file to write, e.g. {output / 'mapping.yaml'}"
    if output.exists() and not force:
        return _refusal(output)
    return None


def _read_org(resource: SalesforceResource) -> _OrgMetadata:
    """Log in and read the three describes; Lead and Contact are required, Account only adds its fields."""
    connection = resource.connect()
    lead = _describe(connection.client, "Lead")
    contact = _describe(connection.client, "Contact")
    try:
        account = _describe(connection.client, "Account")
    except DescribeFailed as exc:
        return _OrgMetadata(connection, lead, contact, None, [f"the Account fields are not suggested: {exc}"])
    return _OrgMetadata(connection, lead, contact, account, [])


def _print_summary(output: Path, connection: SalesforceConnection, count: int, notes: list[str]) -> None:
    """What was written, from which org, the notes, and what to do with the file next."""
    org = f"org {connection.org_name} ({connection.org_id})" if connection.org_name else f"org {connection.org_id}"
    print(f"wrote a suggested contact_mapping of {count} field{'s' if count != 1 else ''} from {org} to {output}")
    for note in notes:
        print(f"note: {note}")
    print(
        "review it (remove what you do not want to sync, check types and directions), then copy it into your "
        "settings file (SYNC_SETTINGS, default data/sync.yaml)"
    )
