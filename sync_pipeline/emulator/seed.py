"""The seed generator: a realistic org, deterministic for (seed, scale, anchor), from a few thousand to millions.

Scale ``demo`` is a few thousand Leads; a number N means N Leads, with N/4 Contacts on N/40 Accounts. Columns are
drawn with numpy in bulk (a million Leads take seconds) and loaded straight into the org's tables. Some records
are deliberately dirty, as real orgs are: invalid and missing emails, duplicates by email, very long strings.
The matching marketing-side engagement events (by email) can be written as JSON lines for the pipeline's drop folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from sync_pipeline.emulator import ids
from sync_pipeline.emulator.org import Org
from sync_pipeline.emulator.reports import ReportColumn, ReportDefinition
from sync_pipeline.emulator.schema import INDUSTRIES, OPEN_STAGES, SOURCES
from sync_pipeline.emulator.soql import datetime_to_storage

DEMO_LEADS = 3000
EVENTS_PEOPLE = 5000  # people given engagement events by default: every person of the demo org
FIRST_NAMES = ["Ann", "Bo", "Carla", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kofi", "Lena",
               "Marco", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wei", "Xena",
               "Yuki", "Zane", "Alba", "Bruno", "Chloe", "Diego", "Emma", "Felix", "Gita", "Hugo", "Ivy", "Jae",
               "Kira", "Luca", "Mia", "Nils", "Olga", "Pablo", "Rui", "Sara", "Theo", "Uma", "Viktor", "Wanda", "Yara",
               "Zoe"]
LAST_NAMES = ["Lee", "Chan", "Okafor", "Novak", "Silva", "Schmidt", "Rossi", "Tanaka", "Kowalski", "Haddad", "Nguyen",
              "Larsen", "Dubois", "Moreau", "Costa", "Ivanova", "Kim", "Patel", "Garcia", "Smith", "Jones", "Brown",
              "Miller", "Davis", "Wilson", "Taylor", "Anderson", "Thomas", "Martin", "White", "Harris", "Clark",
              "Lewis", "Walker", "Hall", "Young", "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson",
              "Hill", "Campbell"]
COMPANY_WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne", "Hooli",
                 "Vandelay", "Soylent", "Gringotts", "Oscorp", "Aperture", "Black", "Mesa", "Monarch", "Massive",
                 "Dynamic", "Nakatomi", "Prestige", "Sirius", "Vehement", "Zorg", "Duff", "Krusty", "Pied", "Piper",
                 "Bluth", "Dunder", "Mifflin", "Sterling", "Cooper", "Gekko", "Rekall", "Nordic", "Atlas", "Polar",
                 "Summit", "Harbor", "Cedar", "Granite", "Beacon", "Falcon", "Orchid", "Quartz", "Meridian"]
COMPANY_SUFFIXES = ("Inc", "LLC", "Group", "Labs", "Systems", "Partners", "Holdings", "Co", "GmbH", "Ltd")
TITLES = ("CEO", "CTO", "VP Marketing", "VP Sales", "Marketing Manager", "Sales Director", "Engineer", "Analyst",
          "Head of Operations", "Product Manager", "IT Director", "Consultant", "Procurement Lead", "CFO")
CITIES = (("San Francisco", "CA", "USA"), ("New York", "NY", "USA"), ("Austin", "TX", "USA"), ("Chicago", "IL", "USA"),
          ("London", None, "United Kingdom"), ("Paris", None, "France"), ("Berlin", None, "Germany"),
          ("Toronto", "ON", "Canada"), ("Sydney", "NSW", "Australia"), ("Tokyo", None, "Japan"))
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com", "corp.example.com")
CAMPAIGNS = (("Spring Product Webinar", "Webinar"), ("Annual Customer Conference", "Conference"),
             ("Monthly Newsletter", "Email"), ("Trade Show East", "Trade Show"),
             ("Partner Referral Program", "Referral Program"))
BOUNCE_REASONS = ("550 5.1.1 mailbox does not exist", "550 5.7.1 message rejected", "552 mailbox full")
EVENT_TYPES = ("email_send", "email_open", "email_click", "form_submit", "page_visit", "unsubscribe", "hard_bounce")
USERS = (  # first, last, title, active
    ("Integration", "User", "Integration", True), ("Sofia", "Reyes", "Account Executive", True),
    ("Liam", "Okoro", "Account Executive", True), ("Mei", "Tan", "Sales Development Rep", True),
    ("Noah", "Berg", "Sales Development Rep", True), ("Ada", "Quinn", "Sales Director", True),
    ("Ravi", "Menon", "Account Executive", False), ("Marta", "Lund", "Marketing Manager", True),
)
OWNER_SHARES = np.array([0.22, 0.22, 0.18, 0.18, 0.12, 0.08])  # of the records owned by each rep (USERS[1:7])


@dataclass(frozen=True)
class SeedSummary:
    seed: int
    scale: str
    counts: dict[str, int]
    anchor: datetime


def parse_scale(scale: str | int) -> int:
    if str(scale) == "demo":
        return DEMO_LEADS
    leads = int(scale)
    if leads < 10:
        raise ValueError("scale must be 'demo' or a number of Leads of at least 10")
    return leads


def org_identity(seed: int) -> tuple[str, str]:
    """Org id and name of a seed: a different seed is a different org."""
    return ids.make_id("00D", 1000 + seed), "Acme Demo" if seed == 7 else f"Acme Org {seed}"


class _Columns:
    """Helpers drawing whole columns at once."""

    def __init__(self, seed: int, anchor: datetime) -> None:
        self.rng = np.random.default_rng(seed)
        self.anchor = anchor

    def choice(self, values: Any, size: int, p: Any = None) -> list[Any]:
        values = list(values)
        picks = self.rng.choice(len(values), size=size, p=p)
        return [values[i] for i in picks.tolist()]

    def flags(self, share: float, size: int) -> np.ndarray:
        return self.rng.random(size) < share

    def timestamps(self, size: int, max_days: float, min_days: float = 0.0) -> list[str]:
        """Storage datetimes between anchor-max_days and anchor-min_days, millisecond precision."""
        offsets = self.rng.uniform(min_days * 86_400_000, max_days * 86_400_000, size).astype(np.int64)
        base = int(self.anchor.timestamp() * 1000)
        stamps = (base - offsets).astype("datetime64[ms]")
        return [text + "Z" for text in np.datetime_as_string(stamps, unit="ms").tolist()]


def _ids(prefix: str, count: int, start: int = 1) -> list[str]:
    return ids.make_ids(prefix, start, count)


@dataclass
class _Accounts:
    ids: list[str]
    names: list[str]
    cities: list[int]  # index into CITIES
    owners: list[str]


@dataclass
class _People:
    """Contacts or Leads as loaded: what campaign members copy from them."""

    ids: list[str]
    first: list[str]
    last: list[str]
    emails: list[str | None]
    optout: list[int]


@dataclass
class _Contacts(_People):
    account_index: list[int]  # index into the Accounts


@dataclass
class _Leads(_People):
    companies: list[str]


def generate(org: Org, *, seed: int, scale: str | int = "demo", anchor: datetime | None = None,
             integration_username: str = "integration@acme.example.com") -> tuple[SeedSummary, list[ReportDefinition]]:
    """Fill an empty org. Returns the counts and the saved reports."""
    anchor = anchor or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    leads_n = parse_scale(scale)
    cols = _Columns(seed, anchor)
    created = datetime_to_storage(anchor - timedelta(days=365))
    counts: dict[str, int] = {}

    _organization(org, anchor)
    user_ids = _users(org, created, integration_username)
    _loaded(org, counts, "User", len(user_ids))
    owners = user_ids[1:7]  # the reps, including the inactive one
    accounts = _accounts(org, cols, max(leads_n // 40, 3), owners)
    _loaded(org, counts, "Account", len(accounts.ids))
    contacts = _contacts(org, cols, max(leads_n // 4, 5), accounts)
    _loaded(org, counts, "Contact", len(contacts.ids))
    leads = _leads(org, cols, leads_n, contacts, accounts, owners)
    _loaded(org, counts, "Lead", leads_n)
    campaign_ids = _campaigns(org, anchor, created, owners, user_ids)
    _loaded(org, counts, "Campaign", len(campaign_ids))
    _loaded(org, counts, "CampaignMember", _campaign_members(org, cols, campaign_ids, leads, contacts))
    opportunity_ids, opportunity_accounts, opportunity_stamps = _opportunities(org, cols, anchor, accounts,
                                                                               campaign_ids)
    _loaded(org, counts, "Opportunity", len(opportunity_ids))
    _loaded(org, counts, "OpportunityContactRole",
            _contact_roles(org, opportunity_ids, opportunity_accounts, opportunity_stamps, contacts))
    reports = _reports()
    org.insert_rows("Report", ["Id", "Name", "DeveloperName", "FolderName", "Format", "Description", "IsDeleted",
                               "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"],
                    [(r.id, r.name, r.developer_name, r.folder, "Tabular", None, 0, created, org.integration_user_id,
                      created, org.integration_user_id, created) for r in reports])
    _loaded(org, counts, "Report", len(reports))
    org.create_indexes()
    return SeedSummary(seed, str(scale), counts, anchor), reports


def _loaded(org: Org, counts: dict[str, int], object_name: str, count: int) -> None:
    """``count`` records of ``object_name`` are loaded: the summary counts them, new ids come after theirs."""
    org.sequences[object_name] = count
    counts[object_name] = count


def _organization(org: Org, anchor: datetime) -> None:
    user = org.integration_user_id
    founded = datetime_to_storage(anchor - timedelta(days=400))
    org.insert_rows("Organization", ["Id", "Name", "OrganizationType", "InstanceName", "IsSandbox", "IsReadOnly",
                                     "DefaultLocaleSidKey", "TimeZoneSidKey", "LanguageLocaleKey", "IsDeleted",
                                     "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
                                     "SystemModstamp"],
                    [(org.org_id, org.org_name, "Enterprise Edition", "CS42", int(org.is_sandbox), 0, "en_US",
                      "America/Los_Angeles", "en_US", 0, founded, user, founded, user, founded)])


def _users(org: Org, created: str, integration_username: str) -> list[str]:
    """The integration user and the sales and marketing users of USERS; returns their ids, integration user first."""
    user = org.integration_user_id
    user_ids = [user] + _ids("005", len(USERS) - 1, start=2)
    user_rows = []
    for user_id, (first, last, title, active) in zip(user_ids, USERS, strict=True):
        username = integration_username if user_id == user else f"{first}.{last}@acme.example.com".lower()
        user_rows.append((user_id, username, last, first, f"{first} {last}", (first[0] + last)[:8].lower(),
                          username, title, "Sales" if "Sales" in title or "Account" in title else "Operations",
                          org.org_name, int(active), "Standard", "America/Los_Angeles", "en_US", "en_US", "UTF-8",
                          0, created, user, created, user, created))
    org.insert_rows("User", ["Id", "Username", "LastName", "FirstName", "Name", "Alias", "Email", "Title",
                             "Department", "CompanyName", "IsActive", "UserType", "TimeZoneSidKey", "LocaleSidKey",
                             "LanguageLocaleKey", "EmailEncodingKey", "IsDeleted", "CreatedDate", "CreatedById",
                             "LastModifiedDate", "LastModifiedById", "SystemModstamp"], user_rows)
    return user_ids


def _accounts(org: Org, cols: _Columns, accounts_n: int, owners: list[str]) -> _Accounts:
    user = org.integration_user_id
    account_ids = _ids("001", accounts_n)
    word_a = cols.choice(COMPANY_WORDS, accounts_n)
    word_b = cols.choice(COMPANY_SUFFIXES, accounts_n)
    account_names = [f"{a} {b}" if i < len(COMPANY_WORDS) * len(COMPANY_SUFFIXES) else f"{a} {b} {i}"
                     for i, (a, b) in enumerate(zip(word_a, word_b, strict=True))]
    cities = cols.choice(range(len(CITIES)), accounts_n)
    stamps = cols.timestamps(accounts_n, 90)
    account_created = cols.timestamps(accounts_n, 720, 90)
    revenue = (cols.rng.lognormal(16, 1.5, accounts_n)).round(-3).tolist()
    employees = cols.rng.integers(5, 20000, accounts_n).tolist()
    account_owner = cols.choice(owners, accounts_n, p=OWNER_SHARES)
    org.insert_rows("Account", [
        "Id", "Name", "Type", "BillingCity", "BillingState", "BillingCountry", "Industry", "AnnualRevenue",
        "NumberOfEmployees", "OwnerId", "AccountSource", "Rating", "IsDeleted", "CreatedDate", "CreatedById",
        "LastModifiedDate", "LastModifiedById", "SystemModstamp"], zip(
        account_ids, account_names, cols.choice(("Prospect", "Customer - Direct", "Customer - Channel", "Other"),
                                                accounts_n),
        [CITIES[c][0] for c in cities], [CITIES[c][1] for c in cities], [CITIES[c][2] for c in cities],
        cols.choice(INDUSTRIES.split("|"), accounts_n), revenue, employees, account_owner,
        cols.choice(SOURCES.split("|"), accounts_n), cols.choice(("Hot", "Warm", "Cold", None), accounts_n),
        [0] * accounts_n, account_created, [user] * accounts_n, stamps, [user] * accounts_n, stamps, strict=True))
    return _Accounts(account_ids, account_names, cities, account_owner)


def _contacts(org: Org, cols: _Columns, contacts_n: int, accounts: _Accounts) -> _Contacts:
    user = org.integration_user_id
    contact_ids = _ids("003", contacts_n)
    first = cols.choice(FIRST_NAMES, contacts_n)
    last = cols.choice(LAST_NAMES, contacts_n)
    account_index = cols.rng.integers(0, len(accounts.ids), contacts_n).tolist()
    emails: list[str | None] = [f"{first_name}.{last_name}.c{i}@{EMAIL_DOMAINS[i % len(EMAIL_DOMAINS)]}".lower()
                                for i, (first_name, last_name) in enumerate(zip(first, last, strict=True))]
    for i in np.flatnonzero(cols.flags(0.02, contacts_n)).tolist():
        emails[i] = None  # missing
    optout = cols.flags(0.06, contacts_n).astype(int).tolist()
    bounced = cols.flags(0.03, contacts_n)
    bounce_reason = [BOUNCE_REASONS[i % 3] if b else None for i, b in enumerate(bounced.tolist())]
    stamps = cols.timestamps(contacts_n, 90)
    bounce_date = [s if b else None for s, b in zip(stamps, bounced.tolist(), strict=True)]
    score = _scores(cols, contacts_n)
    owner = [accounts.owners[a] for a in account_index]
    deleted = cols.flags(0.005, contacts_n)
    deleted_at = [s if d else None for s, d in zip(stamps, deleted.tolist(), strict=True)]
    marketing_ids = [f"MK-C{i:08d}" if i % 3 == 0 else None for i in range(contacts_n)]
    org.insert_rows("Contact", [
        "Id", "AccountId", "FirstName", "LastName", "Name", "Email", "Title", "Phone", "LeadSource", "OwnerId",
        "HasOptedOutOfEmail", "HasOptedOutOfFax", "DoNotCall", "EmailBouncedReason", "EmailBouncedDate",
        "IsEmailBounced", "Behavior_Score__c", "Owner_ID__c", "Marketing_Id__c", "MailingCity", "MailingCountry",
        "IsDeleted", "_deleted_at", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
        "SystemModstamp"], zip(
        contact_ids, [accounts.ids[a] for a in account_index], first, last,
        [f"{first_name} {last_name}" for first_name, last_name in zip(first, last, strict=True)], emails,
        cols.choice(TITLES, contacts_n),
        [f"+1 555 {n:07d}" for n in cols.rng.integers(0, 9_999_999, contacts_n).tolist()],
        cols.choice(SOURCES.split("|"), contacts_n), owner, optout, [0] * contacts_n,
        cols.flags(0.03, contacts_n).astype(int).tolist(), bounce_reason, bounce_date,
        bounced.astype(int).tolist(), score, owner, marketing_ids,
        [CITIES[accounts.cities[a]][0] for a in account_index], [CITIES[accounts.cities[a]][2] for a in account_index],
        deleted.astype(int).tolist(), deleted_at, cols.timestamps(contacts_n, 720, 90), [user] * contacts_n,
        stamps, [user] * contacts_n, stamps, strict=True))
    return _Contacts(contact_ids, first, last, emails, optout, account_index)


def _leads(org: Org, cols: _Columns, leads_n: int, contacts: _Contacts, accounts: _Accounts,
           owners: list[str]) -> _Leads:
    """Leads: 10% converted into the first Contacts; dirt: invalid/missing/duplicate emails, long strings."""
    user = org.integration_user_id
    lead_ids = _ids("00Q", leads_n)
    first = cols.choice(FIRST_NAMES, leads_n)
    last = cols.choice(LAST_NAMES, leads_n)
    emails: list[str | None] = [f"{first_name}.{last_name}.{i}@{EMAIL_DOMAINS[i % len(EMAIL_DOMAINS)]}".lower()
                                for i, (first_name, last_name) in enumerate(zip(first, last, strict=True))]
    companies = [f"{a} {b}" for a, b in zip(cols.choice(COMPANY_WORDS, leads_n), cols.choice(COMPANY_SUFFIXES, leads_n),
                                            strict=True)]
    converted = cols.flags(0.10, leads_n) & (np.arange(leads_n) % 4 == 0)
    status = cols.choice(("Open - Not Contacted", "Working - Contacted", "Closed - Not Converted"), leads_n,
                         p=np.array([0.5, 0.35, 0.15]))
    stamps = cols.timestamps(leads_n, 90)
    leads = _Leads(lead_ids, first, last, emails, [], companies)  # opt-outs are drawn after the dirt, below
    converted_contact, converted_account, converted_date = _convert(leads, converted, status, stamps, contacts,
                                                                    accounts)
    titles, descriptions = _dirt(cols, leads)
    leads.optout = cols.flags(0.05, leads_n).astype(int).tolist()
    bounced = cols.flags(0.02, leads_n).tolist()
    deleted = (cols.flags(0.005, leads_n) & ~converted).tolist()
    lead_city = cols.choice(range(len(CITIES)), leads_n)
    lead_owner = cols.choice(owners, leads_n, p=OWNER_SHARES)
    org.insert_rows("Lead", [
        "Id", "FirstName", "LastName", "Name", "Company", "Title", "Email", "Phone", "LeadSource", "Status",
        "Industry", "Rating", "AnnualRevenue", "NumberOfEmployees", "City", "State", "Country", "OwnerId",
        "HasOptedOutOfEmail", "HasOptedOutOfFax", "DoNotCall", "IsConverted", "ConvertedDate",
        "ConvertedAccountId", "ConvertedContactId", "IsUnreadByOwner", "EmailBouncedReason", "EmailBouncedDate",
        "Behavior_Score__c", "Owner_ID__c", "Marketing_Id__c", "Description", "IsDeleted", "_deleted_at",
        "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"], zip(
        lead_ids, first, last, [f"{first_name} {last_name}" for first_name, last_name in zip(first, last, strict=True)],
        companies, titles, emails,
        [f"+1 555 {n:07d}" for n in cols.rng.integers(0, 9_999_999, leads_n).tolist()],
        cols.choice(SOURCES.split("|"), leads_n), status, cols.choice(INDUSTRIES.split("|"), leads_n),
        cols.choice(("Hot", "Warm", "Cold", None), leads_n), cols.rng.lognormal(14, 1.2, leads_n).round(-3).tolist(),
        cols.rng.integers(1, 5000, leads_n).tolist(), [CITIES[c][0] for c in lead_city],
        [CITIES[c][1] for c in lead_city], [CITIES[c][2] for c in lead_city], lead_owner, leads.optout,
        [0] * leads_n, [0] * leads_n, converted.astype(int).tolist(), converted_date, converted_account,
        converted_contact, [0] * leads_n, [BOUNCE_REASONS[i % 3] if b else None for i, b in enumerate(bounced)],
        [s if b else None for s, b in zip(stamps, bounced, strict=True)], _scores(cols, leads_n), lead_owner,
        [f"MK-L{i:08d}" if i % 5 == 0 else None for i in range(leads_n)], descriptions,
        [int(d) for d in deleted], [s if d else None for s, d in zip(stamps, deleted, strict=True)],
        cols.timestamps(leads_n, 400, 90), [user] * leads_n, stamps, [user] * leads_n, stamps, strict=True))
    return leads


def _convert(leads: _Leads, converted: np.ndarray, status: list[str], stamps: list[str], contacts: _Contacts,
             accounts: _Accounts) -> tuple[list[str | None], list[str | None], list[str | None]]:
    """Converted Leads take the name and email of the Contact they became, and the status Closed - Converted.

    Returns the converted Contact ids, Account ids and dates (None for the Leads not converted)."""
    leads_n = len(leads.ids)
    converted_contact: list[str | None] = [None] * leads_n
    converted_account: list[str | None] = [None] * leads_n
    converted_date: list[str | None] = [None] * leads_n
    for i in np.flatnonzero(converted).tolist():
        c = (i // 4) % len(contacts.ids)
        converted_contact[i] = contacts.ids[c]
        converted_account[i] = accounts.ids[contacts.account_index[c]]
        converted_date[i] = stamps[i][:10]
        leads.emails[i] = contacts.emails[c]
        leads.first[i], leads.last[i] = contacts.first[c], contacts.last[c]
        status[i] = "Closed - Converted"
    return converted_contact, converted_account, converted_date


def _dirt(cols: _Columns, leads: _Leads) -> tuple[list[str], list[str | None]]:
    """Invalid, missing and duplicate emails, and a few very long titles and descriptions, as real orgs have.

    Returns the titles and descriptions of the Leads; their emails are dirtied in place."""
    leads_n = len(leads.ids)
    first, last, emails = leads.first, leads.last, leads.emails
    dirty = cols.rng.random(leads_n)
    titles = cols.choice(TITLES, leads_n)
    descriptions: list[str | None] = [None] * leads_n
    for i in np.flatnonzero(dirty < 0.005).tolist():
        emails[i] = f"{first[i]}.{last[i]}.at.example.com".lower() if i % 2 else f"{first[i]}@".lower()
    for i in np.flatnonzero((dirty >= 0.005) & (dirty < 0.025)).tolist():
        emails[i] = None
    for i in np.flatnonzero((dirty >= 0.025) & (dirty < 0.035)).tolist():
        emails[i] = emails[i // 2] if i // 2 != i else emails[i]  # duplicate of another Lead's email
    for i in np.flatnonzero((dirty >= 0.035) & (dirty < 0.037)).tolist():
        titles[i] = ("Senior Vice President of Global Strategic Marketing Operations and Demand Generation "
                     "for Europe, the Middle East and Africa")[:128]
        descriptions[i] = "Imported from a trade show scanner. " * 200
    return titles, descriptions


def _campaigns(org: Org, anchor: datetime, created: str, owners: list[str], user_ids: list[str]) -> list[str]:
    user = org.integration_user_id
    campaign_ids = _ids("701", len(CAMPAIGNS))
    campaign_rows = []
    for index, (campaign_id, (name, kind)) in enumerate(zip(campaign_ids, CAMPAIGNS, strict=True)):
        start = (anchor - timedelta(days=120 - 20 * index)).date().isoformat()
        budget = 5000.0 * (index + 1)
        # Completed campaigns have an actual cost; the last one has no cost entered at all (a return cannot be said).
        actual = budget * (0.9 + 0.1 * index) if index < 2 else None
        campaign_rows.append((campaign_id, name, kind, "Completed" if index < 2 else "In Progress", start,
                              (anchor + timedelta(days=30)).date().isoformat(), 1,
                              None if index == len(CAMPAIGNS) - 1 else budget, actual,
                              owners[-1] if index == 2 else user_ids[-1], 0, created, user, created, user, created))
    org.insert_rows("Campaign", ["Id", "Name", "Type", "Status", "StartDate", "EndDate", "IsActive", "BudgetedCost",
                                 "ActualCost", "OwnerId", "IsDeleted", "CreatedDate", "CreatedById",
                                 "LastModifiedDate", "LastModifiedById", "SystemModstamp"], campaign_rows)
    return campaign_ids


def _campaign_members(org: Org, cols: _Columns, campaign_ids: list[str], leads: _Leads, contacts: _Contacts) -> int:
    """Members of each campaign, three Leads to a Contact, 30% of them responded; returns how many."""
    leads_n, contacts_n = len(leads.ids), len(contacts.ids)
    members_per_campaign = max(20, min(leads_n // 25, 40_000))
    member_rows: list[tuple[Any, ...]] = []
    member_ids = _ids("00v", members_per_campaign * len(CAMPAIGNS) + len(CAMPAIGNS))
    member_stamps = cols.timestamps(members_per_campaign * len(CAMPAIGNS), 90)
    for campaign_id in campaign_ids:
        lead_pick = cols.rng.choice(leads_n, size=min(leads_n, members_per_campaign * 3 // 4), replace=False).tolist()
        contact_pick = cols.rng.choice(contacts_n, size=min(contacts_n, members_per_campaign // 4),
                                       replace=False).tolist()
        responded = cols.flags(0.3, len(lead_pick) + len(contact_pick)).tolist()
        picks: list[tuple[_People, int]] = [(leads, i) for i in lead_pick] + [(contacts, i) for i in contact_pick]
        for (people, index), did_respond in zip(picks, responded, strict=True):
            sequence = len(member_rows)
            member_rows.append(_member_row(member_ids[sequence], campaign_id, people, index, did_respond,
                                           member_stamps[sequence % len(member_stamps)], org.integration_user_id))
    org.insert_rows("CampaignMember", [
        "Id", "CampaignId", "LeadId", "ContactId", "Status", "HasResponded", "FirstRespondedDate", "Type",
        "LeadOrContactId", "FirstName", "LastName", "Email", "CompanyOrAccount", "HasOptedOutOfEmail", "IsDeleted",
        "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"], member_rows)
    return len(member_rows)


def _member_row(member_id: str, campaign_id: str, people: _People, index: int, responded: bool, stamp: str,
                user: str) -> tuple[Any, ...]:
    """A CampaignMember of a Lead or a Contact, with the name, email, company and opt-out it mirrors."""
    kind = "Lead" if isinstance(people, _Leads) else "Contact"
    who = people.ids[index]
    company = people.companies[index] if isinstance(people, _Leads) else None
    return (member_id, campaign_id, who if kind == "Lead" else None, who if kind == "Contact" else None,
            "Responded" if responded else "Sent", int(responded), stamp[:10] if responded else None, kind, who,
            people.first[index], people.last[index], people.emails[index], company, people.optout[index], 0, stamp,
            user, stamp, user, stamp)


def _opportunities(org: Org, cols: _Columns, anchor: datetime, accounts: _Accounts, campaign_ids: list[str]
                   ) -> tuple[list[str], list[int], list[str]]:
    """Opportunities of the Accounts; returns their ids, the index of each one's Account and their modstamps."""
    user = org.integration_user_id
    opportunities_n = max(len(accounts.ids) * 3 // 4, 3)
    opportunity_ids = _ids("006", opportunities_n)
    stages = cols.choice([*OPEN_STAGES, "Closed Won", "Closed Lost"], opportunities_n)
    o_account = cols.rng.integers(0, len(accounts.ids), opportunities_n).tolist()
    amounts = (cols.rng.lognormal(10.5, 0.8, opportunities_n)).round(-2).tolist()
    o_stamps = cols.timestamps(opportunities_n, 90)
    close = [(anchor + timedelta(days=int(d))).date().isoformat()
             for d in cols.rng.integers(-120, 120, opportunities_n).tolist()]
    o_campaign = [campaign_ids[int(c)] if c < len(campaign_ids) else None
                  for c in cols.rng.integers(0, len(campaign_ids) * 2, opportunities_n).tolist()]
    opportunity_rows = []
    for i, opportunity_id in enumerate(opportunity_ids):
        stage = stages[i]
        won, closed = stage == "Closed Won", stage in ("Closed Won", "Closed Lost")
        probability = 100.0 if won else 0.0 if closed else float(OPEN_STAGES[stage])
        product = ("Platform", "Add-on", "Renewal", "Services")[i % 4]
        opportunity_rows.append((
            opportunity_id, accounts.ids[o_account[i]], f"{accounts.names[o_account[i]]} - {product}",
            stage, amounts[i], probability, round(amounts[i] * probability / 100, 2), close[i],
            ("New Customer", "Existing Customer - Upgrade")[i % 2], SOURCES.split("|")[i % 5], int(closed), int(won),
            "Closed" if won else "Omitted" if closed else "Pipeline", o_campaign[i], accounts.owners[o_account[i]], 0,
            0, o_stamps[i], user, o_stamps[i], user, o_stamps[i]))
    org.insert_rows("Opportunity", [
        "Id", "AccountId", "Name", "StageName", "Amount", "Probability", "ExpectedRevenue", "CloseDate", "Type",
        "LeadSource", "IsClosed", "IsWon", "ForecastCategory", "CampaignId", "OwnerId", "IsPrivate", "IsDeleted",
        "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"], opportunity_rows)
    return opportunity_ids, o_account, o_stamps


def _contact_roles(org: Org, opportunity_ids: list[str], o_account: list[int], o_stamps: list[str],
                   contacts: _Contacts) -> int:
    """Up to two Contacts of its Account per Opportunity (the first one primary); returns how many."""
    user = org.integration_user_id
    contacts_by_account: dict[int, list[int]] = {}
    for contact_index, account_index in enumerate(contacts.account_index):
        contacts_by_account.setdefault(account_index, []).append(contact_index)
    role_rows: list[tuple[Any, ...]] = []
    roles = ("Decision Maker", "Economic Buyer", "Evaluator", "Technical Buyer", "Influencer")
    for i, opportunity_id in enumerate(opportunity_ids):
        candidates = contacts_by_account.get(o_account[i]) or [i % len(contacts.ids)]
        for position, contact_index in enumerate(candidates[:2]):
            role_rows.append((ids.make_id("00K", len(role_rows) + 1), opportunity_id, contacts.ids[contact_index],
                              roles[(i + position) % len(roles)], int(position == 0), 0, o_stamps[i], user,
                              o_stamps[i], user, o_stamps[i]))
    org.insert_rows("OpportunityContactRole", ["Id", "OpportunityId", "ContactId", "Role", "IsPrimary", "IsDeleted",
                                               "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
                                               "SystemModstamp"], role_rows)
    return len(role_rows)


def _scores(cols: _Columns, size: int) -> list[float | None]:
    """Behavior scores: most records never scored (null), the rest 0-120."""
    scored = cols.flags(0.4, size)
    values = cols.rng.gamma(2.0, 12.0, size).round().clip(0, 120)
    return [float(v) if s else None for v, s in zip(values.tolist(), scored.tolist(), strict=True)]


def _reports() -> list[ReportDefinition]:
    prospects = ReportDefinition(
        id=ids.make_id("00O", 1), name="Prospects in Active Opportunities",
        developer_name="Prospects_in_Active_Opportunities", folder="Marketing Reports",
        report_type=("OpportunityContactRole", "Opportunities with Contact Roles"),
        object_name="OpportunityContactRole", where="Opportunity.IsClosed = false",
        order_by="Opportunity.CloseDate, Id",
        filters=({"column": "CLOSED", "operator": "equals", "value": "False"},),
        columns=(
            ReportColumn("CONTACT_ID", "Contact ID", "id", "ContactId"),
            ReportColumn("FULL_NAME", "Contact Name", "string", "Contact.Name"),
            ReportColumn("EMAIL", "Email", "email", "Contact.Email"),
            ReportColumn("ACCOUNT_NAME", "Account Name", "string", "Contact.Account.Name"),
            ReportColumn("CONTACT_OWNER", "Contact Owner", "id", "Contact.OwnerId", "Contact.Owner.Name"),
            ReportColumn("OPPORTUNITY_NAME", "Opportunity Name", "string", "OpportunityId", "Opportunity.Name"),
            ReportColumn("STAGE_NAME", "Stage", "picklist", "Opportunity.StageName"),
            ReportColumn("AMOUNT", "Amount", "currency", "Opportunity.Amount"),
            ReportColumn("CLOSE_DATE", "Close Date", "date", "Opportunity.CloseDate"),
            ReportColumn("Contact.Behavior_Score__c", "Behavior Score", "double", "Contact.Behavior_Score__c"),
        ),
    )
    open_leads = ReportDefinition(
        id=ids.make_id("00O", 2), name="All Open Leads", developer_name="All_Open_Leads", folder="Marketing Reports",
        report_type=("LeadList", "Leads"), object_name="Lead",
        where="IsConverted = false AND Status != 'Closed - Not Converted'", order_by="CreatedDate, Id",
        filters=({"column": "CONVERTED", "operator": "equals", "value": "False"},),
        columns=(
            ReportColumn("LEAD_ID", "Lead ID", "id", "Id"),
            ReportColumn("FULL_NAME", "Name", "string", "Name"),
            ReportColumn("EMAIL", "Email", "email", "Email"),
            ReportColumn("COMPANY", "Company / Account", "string", "Company"),
            ReportColumn("LEAD_SOURCE", "Lead Source", "picklist", "LeadSource"),
            ReportColumn("STATUS", "Lead Status", "picklist", "Status"),
            ReportColumn("LEAD_OWNER", "Lead Owner", "id", "OwnerId", "Owner.Name"),
        ),
    )
    return [prospects, open_leads]


def write_events(org: Org, path: Path, *, seed: int, anchor: datetime, max_people: int = EVENTS_PEOPLE) -> int:
    """Marketing-side engagement events for people of the org, by email, as JSON lines. Returns the count."""
    rng = np.random.default_rng(seed + 1)
    people = org.db.execute(
        "SELECT Email FROM (SELECT Email, rowid AS r FROM Lead WHERE Email LIKE '%_@_%._%' "
        "UNION ALL SELECT Email, rowid + 100000000 FROM Contact WHERE Email LIKE '%_@_%._%') "
        "ORDER BY r LIMIT ?", (max_people,)).fetchall()
    path.parent.mkdir(parents=True, exist_ok=True)
    campaigns = [name for name, _ in CAMPAIGNS]
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for person_index, (email,) in enumerate(people):
            engaged = rng.random() < 0.6
            for send in range(int(rng.integers(1, 6))):
                campaign = campaigns[int(rng.integers(0, len(campaigns)))]
                # Two days back at least: an open follows its send by up to 48 h, and no event is in the future.
                sent = anchor - timedelta(days=float(rng.uniform(2, 120)))
                message = f"{campaign} #{send + 1}"
                events = [("email_send", sent, {"campaign": campaign, "email_name": message})]
                if engaged and rng.random() < 0.5:
                    opened = sent + timedelta(hours=float(rng.uniform(0.1, 48)))
                    events.append(("email_open", opened, {"campaign": campaign, "email_name": message}))
                    if rng.random() < 0.4:
                        events.append(("email_click", opened + timedelta(minutes=2),
                                       {"campaign": campaign, "email_name": message,
                                        "url": "https://www.example.com/pricing"}))
                        if rng.random() < 0.3:
                            events.append(("page_visit", opened + timedelta(minutes=3),
                                           {"url": "https://www.example.com/pricing"}))
                        if rng.random() < 0.2:
                            events.append(("form_submit", opened + timedelta(minutes=6),
                                           {"form": "Request a Demo", "url": "https://www.example.com/demo"}))
                for event_type, when, extra in events:
                    _write_event(out, seed, count, event_type, email, when, extra)
                    count += 1
            if rng.random() < 0.01:
                _write_event(out, seed, count, "unsubscribe", email, anchor - timedelta(days=float(rng.uniform(0, 30))),
                             {})
                count += 1
            if person_index % 97 == 0:
                _write_event(out, seed, count, "hard_bounce", email, anchor - timedelta(days=float(rng.uniform(0, 30))),
                             {"reason": BOUNCE_REASONS[person_index % 3]})
                count += 1
    return count


def _write_event(out: Any, seed: int, number: int, event_type: str, email: str, when: datetime,
                 extra: dict[str, Any]) -> None:
    out.write(event_line(f"seed{seed}-{number:09d}", event_type, email, when, extra))


def event_line(event_id: str, event_type: str, email: str, when: datetime, extra: dict[str, Any]) -> str:
    """One engagement event as a line of a drop-folder file (the format of ``sync_pipeline.rules.events``)."""
    record = {"event_id": event_id, "event_type": event_type, "email": email,
              "occurred_at": when.astimezone(UTC).isoformat(timespec="seconds"), **extra}
    return json.dumps(record) + "\n"
