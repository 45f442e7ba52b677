"""Small builders shared by the settings tests: a valid settings dict, describe payloads, problem lookup."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from sync_pipeline.settings import SettingsError, parse_settings

REPO_ROOT = Path(__file__).resolve().parents[2]

_VALID: dict[str, Any] = {
    "salesforce": {"api_version": "62.0"},
    "contact_mapping": {
        "email": {"lead": "Email", "contact": "Email", "type": "email"},
        "first_name": {"lead": "FirstName", "contact": "FirstName", "type": "text", "direction": "two_way"},
        "company": {"lead": "Company", "contact": "Account.Name", "type": "text", "direction": "pull"},
        "lead_score": {"lead": "Behavior_Score__c", "contact": "Behavior_Score__c", "type": "score"},
    },
    "lists": [
        {
            "name": "Leads",
            "source": {"object": "Lead"},
            "columns": ["Email", "FirstName", "Company", "Behavior_Score__c"],
            "pull": {"add_new": True, "update_fields": ["FirstName"], "remove_missing": True},
            "push": {"add_new": False, "update_fields": ["Behavior_Score__c"]},
            "schedule": "0 */4 * * *",
        },
        {"name": "Contacts", "source": {"object": "Contact"}, "columns": ["Email", "Account.Name"]},
        {"name": "Active Opps", "source": {"report": "Active Opportunities"}, "columns": ["Email"]},
    ],
    "hot_prospects": {
        "assigned_leads": "Leads",
        "active_opportunities": "Active Opps",
        "assigned_contacts": "Contacts",
    },
}


def valid_data() -> dict[str, Any]:
    """A fresh copy of small, valid settings that tests break one rule at a time."""
    return copy.deepcopy(_VALID)


def problems_of(data: Any) -> list[str]:
    """The problems ``parse_settings`` reports for ``data`` (it must refuse it)."""
    with pytest.raises(SettingsError) as caught:
        parse_settings(data, "test-sync.yaml")
    return caught.value.problems


def find_problem(problems: list[str], key: str, *phrases: str) -> str:
    """The one problem reported at exactly ``key`` that contains every phrase."""
    matching = [line for line in problems if line.startswith(f"{key}: ") and all(p in line for p in phrases)]
    assert len(matching) == 1, f"expected one problem at {key} with {phrases}, got:\n" + "\n".join(problems)
    line = matching[0]
    assert " — " in line, f"a problem must say what to do after ' — ': {line}"
    return line


def sf_field(
    name: str,
    *,
    type_: str = "string",
    updateable: bool = True,
    calculated: bool = False,
    relationship: str | None = None,
    reference_to: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One ``fields[]`` entry of a describe, with the keys the settings check reads."""
    return {
        "name": name,
        "type": type_,
        "length": 255,
        "createable": updateable,
        "updateable": updateable,
        "nillable": True,
        "relationshipName": relationship,
        "referenceTo": list(reference_to),
        "calculated": calculated,
        "picklistValues": [],
    }


def describe(name: str, *fields: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "fields": list(fields)}
