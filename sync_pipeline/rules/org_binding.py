"""Which Salesforce org a marketing database belongs to: data of two orgs must never mix."""

from __future__ import annotations


class OrgSwitchError(Exception):
    """The credentials now reach a different org than the one this marketing database is bound to."""

    def __init__(self, remembered_org_id: str, connected_org_id: str) -> None:
        self.remembered_org_id = remembered_org_id
        self.connected_org_id = connected_org_id
        super().__init__(
            f"switching organizations: this marketing database is bound to Salesforce org {remembered_org_id}, "
            f"but the credentials log in to org {connected_org_id}. Syncs are stopped so data of two orgs never "
            "mixes. Restore the credentials of the original org, or run `sync-pipeline org reset` to unbind the "
            "database (the next sync is then a full one)."
        )


def same_org(a: str, b: str) -> bool:
    """Org ids compare on their 15-character case-sensitive form (the API may return 15 or 18 characters)."""
    return a[:15] == b[:15]


def check_org_binding(remembered_org_id: str | None, connected_org_id: str) -> bool:
    """True when the database must be bound now (first connection); raises OrgSwitchError on another org."""
    if remembered_org_id is None:
        return True
    if not same_org(remembered_org_id, connected_org_id):
        raise OrgSwitchError(remembered_org_id, connected_org_id)
    return False
