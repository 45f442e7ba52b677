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
FIRST_NAMES = ("Ann Bo Carla Dev Elena Farid Grace Hiro Ines Jonas Kofi Lena Marco Nadia Omar Priya Quinn Rosa Sami "
               "Tara Umar Vera Wei Xena Yuki Zane Alba Bruno Chloe Diego Emma Felix Gita Hugo Ivy Jae Kira Luca Mia "
               "Nils Olga Pablo Rui Sara Theo Uma Viktor Wanda Yara Zoe").split()
LAST_NAMES = ("Lee Chan Okafor Novak Silva Schmidt Rossi Tanaka Kowalski Haddad Nguyen Larsen Dubois Moreau Costa "
              "Ivanova Kim Patel Garcia Smith Jones Brown Miller Davis Wilson Taylor Anderson Thomas Martin White "
              "Harris Clark Lewis Walker Hall Young King Wright Scott Green Baker Adams Nelson Hill Campbell").split()
COMPANY_WORDS = ("Acme Globex Initech Umbrella Stark Wayne Wonka Tyrell Cyberdyne Hooli Vandelay Soylent Gringotts "
                 "Oscorp Aperture Black Mesa Monarch Massive Dynamic Nakatomi Prestige Sirius Vehement Zorg Duff "
                 "Krusty Pied Piper Bluth Dunder Mifflin Sterling Cooper Gekko Rekall Nordic Atlas Polar Summit "
                 "Harbor Cedar Granite Beacon Falcon Orchid Quartz Meridian").split()
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


def generate(org: Org, *, seed: int, scale: str | int = "demo", anchor: datetime | None = None,
             integration_username: str = "integration@acme.example.com") -> tuple[SeedSummary, list[ReportDefinition]]:
    """Fill an empty org. Returns the counts and the saved reports."""
    anchor = anchor or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    leads_n = parse_scale(scale)
    contacts_n = max(leads_n // 4, 5)
    accounts_n = max(leads_n // 40, 3)
    cols = _Columns(seed, anchor)
    user = org.integration_user_id
    counts: dict[str, int] = {}

    # Organization and users
    org.insert_rows("Organization", ["Id", "Name", "OrganizationType", "InstanceName", "IsSandbox", "IsReadOnly",
                                     "DefaultLocaleSidKey", "TimeZoneSidKey", "LanguageLocaleKey", "IsDeleted",
                                     "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
                                     "SystemModstamp"],
                    [(org.org_id, org.org_name, "Enterprise Edition", "CS42", int(org.is_sandbox), 0, "en_US",
                      "America/Los_Angeles", "en_US", 0, *(datetime_to_storage(anchor - timedelta(days=400)),) * 1,
                      user, datetime_to_storage(anchor - timedelta(days=400)), user,
                      datetime_to_storage(anchor - timedelta(days=400)))])
    user_ids = [user] + _ids("005", len(USERS) - 1, start=2)
    created = datetime_to_storage(anchor - timedelta(days=365))
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
    org.sequences["User"] = len(user_ids)
    counts["User"] = len(user_ids)
    owners = user_ids[1:7]  # the reps, including the inactive one
    owner_p = np.array([0.22, 0.22, 0.18, 0.18, 0.12, 0.08])

    # Accounts
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
    account_owner = cols.choice(owners, accounts_n, p=owner_p)
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
    org.sequences["Account"] = accounts_n
    counts["Account"] = accounts_n

    # Contacts
    contact_ids = _ids("003", contacts_n)
    c_first = cols.choice(FIRST_NAMES, contacts_n)
    c_last = cols.choice(LAST_NAMES, contacts_n)
    c_account_index = cols.rng.integers(0, accounts_n, contacts_n).tolist()
    c_emails: list[str | None] = [f"{f}.{l}.c{i}@{EMAIL_DOMAINS[i % len(EMAIL_DOMAINS)]}".lower()
                                  for i, (f, l) in enumerate(zip(c_first, c_last, strict=True))]
    for i in np.flatnonzero(cols.flags(0.02, contacts_n)).tolist():
        c_emails[i] = None  # missing
    c_optout = cols.flags(0.06, contacts_n).astype(int).tolist()
    c_bounced = cols.flags(0.03, contacts_n)
    c_bounce_reason = [BOUNCE_REASONS[i % 3] if b else None for i, b in enumerate(c_bounced.tolist())]
    c_stamps = cols.timestamps(contacts_n, 90)
    c_bounce_date = [s if b else None for s, b in zip(c_stamps, c_bounced.tolist(), strict=True)]
    c_score = _scores(cols, contacts_n)
    c_owner = [account_owner[a] for a in c_account_index]
    c_deleted = cols.flags(0.005, contacts_n)
    c_deleted_at = [s if d else None for s, d in zip(c_stamps, c_deleted.tolist(), strict=True)]
    c_marketing_ids = [f"MK-C{i:08d}" if i % 3 == 0 else None for i in range(contacts_n)]
    org.insert_rows("Contact", [
        "Id", "AccountId", "FirstName", "LastName", "Name", "Email", "Title", "Phone", "LeadSource", "OwnerId",
        "HasOptedOutOfEmail", "HasOptedOutOfFax", "DoNotCall", "EmailBouncedReason", "EmailBouncedDate",
        "IsEmailBounced", "Behavior_Score__c", "Owner_ID__c", "Marketing_Id__c", "MailingCity", "MailingCountry",
        "IsDeleted", "_deleted_at", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
        "SystemModstamp"], zip(
        contact_ids, [account_ids[a] for a in c_account_index], c_first, c_last,
        [f"{f} {l}" for f, l in zip(c_first, c_last, strict=True)], c_emails, cols.choice(TITLES, contacts_n),
        [f"+1 555 {n:07d}" for n in cols.rng.integers(0, 9_999_999, contacts_n).tolist()],
        cols.choice(SOURCES.split("|"), contacts_n), c_owner, c_optout, [0] * contacts_n,
        cols.flags(0.03, contacts_n).astype(int).tolist(), c_bounce_reason, c_bounce_date,
        c_bounced.astype(int).tolist(), c_score, c_owner, c_marketing_ids,
        [CITIES[cities[a]][0] for a in c_account_index], [CITIES[cities[a]][2] for a in c_account_index],
        c_deleted.astype(int).tolist(), c_deleted_at, cols.timestamps(contacts_n, 720, 90), [user] * contacts_n,
        c_stamps, [user] * contacts_n, c_stamps, strict=True))
    org.sequences["Contact"] = contacts_n
    counts["Contact"] = contacts_n

    # Leads (10% converted into the first Contacts; dirt: invalid/missing/duplicate emails, long strings)
    lead_ids = _ids("00Q", leads_n)
    first = cols.choice(FIRST_NAMES, leads_n)
    last = cols.choice(LAST_NAMES, leads_n)
    emails: list[str | None] = [f"{f}.{l}.{i}@{EMAIL_DOMAINS[i % len(EMAIL_DOMAINS)]}".lower()
                                for i, (f, l) in enumerate(zip(first, last, strict=True))]
    companies = [f"{a} {b}" for a, b in zip(cols.choice(COMPANY_WORDS, leads_n), cols.choice(COMPANY_SUFFIXES, leads_n),
                                            strict=True)]
    converted = cols.flags(0.10, leads_n) & (np.arange(leads_n) % 4 == 0)
    converted_contact: list[str | None] = [None] * leads_n
    converted_account: list[str | None] = [None] * leads_n
    converted_date: list[str | None] = [None] * leads_n
    status = cols.choice(("Open - Not Contacted", "Working - Contacted", "Closed - Not Converted"), leads_n,
                         p=np.array([0.5, 0.35, 0.15]))
    stamps = cols.timestamps(leads_n, 90)
    for i in np.flatnonzero(converted).tolist():
        c = (i // 4) % contacts_n
        converted_contact[i] = contact_ids[c]
        converted_account[i] = account_ids[c_account_index[c]]
        converted_date[i] = stamps[i][:10]
        emails[i] = c_emails[c]
        first[i], last[i] = c_first[c], c_last[c]
        status[i] = "Closed - Converted"
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
    optout = cols.flags(0.05, leads_n).astype(int).tolist()
    bounced = cols.flags(0.02, leads_n).tolist()
    deleted = (cols.flags(0.005, leads_n) & ~converted).tolist()
    lead_city = cols.choice(range(len(CITIES)), leads_n)
    lead_owner = cols.choice(owners, leads_n, p=owner_p)
    org.insert_rows("Lead", [
        "Id", "FirstName", "LastName", "Name", "Company", "Title", "Email", "Phone", "LeadSource", "Status",
        "Industry", "Rating", "AnnualRevenue", "NumberOfEmployees", "City", "State", "Country", "OwnerId",
        "HasOptedOutOfEmail", "HasOptedOutOfFax", "DoNotCall", "IsConverted", "ConvertedDate",
        "ConvertedAccountId", "ConvertedContactId", "IsUnreadByOwner", "EmailBouncedReason", "EmailBouncedDate",
        "Behavior_Score__c", "Owner_ID__c", "Marketing_Id__c", "Description", "IsDeleted", "_deleted_at",
        "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"], zip(
        lead_ids, first, last, [f"{f} {l}" for f, l in zip(first, last, strict=True)], companies, titles, emails,
        [f"+1 555 {n:07d}" for n in cols.rng.integers(0, 9_999_999, leads_n).tolist()],
        cols.choice(SOURCES.split("|"), leads_n), status, cols.choice(INDUSTRIES.split("|"), leads_n),
        cols.choice(("Hot", "Warm", "Cold", None), leads_n), cols.rng.lognormal(14, 1.2, leads_n).round(-3).tolist(),
        cols.rng.integers(1, 5000, leads_n).tolist(), [CITIES[c][0] for c in lead_city],
        [CITIES[c][1] for c in lead_city], [CITIES[c][2] for c in lead_city], lead_owner, optout, [0] * leads_n,
        [0] * leads_n, converted.astype(int).tolist(), converted_date, converted_account, converted_contact,
        [0] * leads_n, [BOUNCE_REASONS[i % 3] if b else None for i, b in enumerate(bounced)],
        [s if b else None for s, b in zip(stamps, bounced, strict=True)], _scores(cols, leads_n), lead_owner,
        [f"MK-L{i:08d}" if i % 5 == 0 else None for i in range(leads_n)], descriptions,
        [int(d) for d in deleted], [s if d else None for s, d in zip(stamps, deleted, strict=True)],
        cols.timestamps(leads_n, 400, 90), [user] * leads_n, stamps, [user] * leads_n, stamps, strict=True))
    org.sequences["Lead"] = leads_n
    counts["Lead"] = leads_n

    # Campaigns and members
    campaign_ids = _ids("701", len(CAMPAIGNS))
    campaign_rows = []
    for index, (campaign_id, (name, kind)) in enumerate(zip(campaign_ids, CAMPAIGNS, strict=True)):
        start = (anchor - timedelta(days=120 - 20 * index)).date().isoformat()
        campaign_rows.append((campaign_id, name, kind, "Completed" if index < 2 else "In Progress", start,
                              (anchor + timedelta(days=30)).date().isoformat(), 1, 5000.0 * (index + 1),
                              owners[-1] if index == 2 else user_ids[-1], 0, created, user, created, user, created))
    org.insert_rows("Campaign", ["Id", "Name", "Type", "Status", "StartDate", "EndDate", "IsActive", "BudgetedCost",
                                 "OwnerId", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate",
                                 "LastModifiedById", "SystemModstamp"], campaign_rows)
    org.sequences["Campaign"] = len(campaign_ids)
    counts["Campaign"] = len(campaign_ids)
    members_per_campaign = max(20, min(leads_n // 25, 40_000))
    member_rows = []
    member_ids = _ids("00v", members_per_campaign * len(CAMPAIGNS) + len(CAMPAIGNS))
    member_stamps = cols.timestamps(members_per_campaign * len(CAMPAIGNS), 90)
    sequence = 0
    for campaign_index, campaign_id in enumerate(campaign_ids):
        lead_pick = cols.rng.choice(leads_n, size=members_per_campaign * 3 // 4, replace=False).tolist()
        contact_pick = cols.rng.choice(contacts_n, size=min(contacts_n, members_per_campaign // 4),
                                       replace=False).tolist()
        responded = cols.flags(0.3, len(lead_pick) + len(contact_pick)).tolist()
        for position, (kind, index) in enumerate([("Lead", i) for i in lead_pick] + [("Contact", i) for i in contact_pick]):
            stamp = member_stamps[sequence % len(member_stamps)]
            sequence += 1
            if kind == "Lead":
                who, first_name, last_name, email, optout_flag, company = (
                    lead_ids[index], first[index], last[index], emails[index], optout[index], companies[index])
            else:
                who, first_name, last_name, email, optout_flag, company = (
                    contact_ids[index], c_first[index], c_last[index], c_emails[index], c_optout[index], None)
            did_respond = responded[position]
            member_rows.append((member_ids[sequence - 1], campaign_id, who if kind == "Lead" else None,
                                who if kind == "Contact" else None, "Responded" if did_respond else "Sent",
                                int(did_respond), stamp[:10] if did_respond else None, kind, who, first_name,
                                last_name, email, company, optout_flag, 0, stamp, user, stamp, user, stamp))
    org.insert_rows("CampaignMember", [
        "Id", "CampaignId", "LeadId", "ContactId", "Status", "HasResponded", "FirstRespondedDate", "Type",
        "LeadOrContactId", "FirstName", "LastName", "Email", "CompanyOrAccount", "HasOptedOutOfEmail", "IsDeleted",
        "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"], member_rows)
    org.sequences["CampaignMember"] = sequence
    counts["CampaignMember"] = sequence

    # Opportunities with contact roles
    opportunities_n = max(accounts_n * 3 // 4, 3)
    opportunity_ids = _ids("006", opportunities_n)
    stages = cols.choice([*OPEN_STAGES, "Closed Won", "Closed Lost"], opportunities_n)
    o_account = cols.rng.integers(0, accounts_n, opportunities_n).tolist()
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
        opportunity_rows.append((
            opportunity_id, account_ids[o_account[i]], f"{account_names[o_account[i]]} - {('Platform', 'Add-on', 'Renewal', 'Services')[i % 4]}",
            stage, amounts[i], probability, round(amounts[i] * probability / 100, 2), close[i],
            ("New Customer", "Existing Customer - Upgrade")[i % 2], SOURCES.split("|")[i % 5], int(closed), int(won),
            "Closed" if won else "Omitted" if closed else "Pipeline", o_campaign[i], account_owner[o_account[i]], 0,
            0, o_stamps[i], user, o_stamps[i], user, o_stamps[i]))
    org.insert_rows("Opportunity", [
        "Id", "AccountId", "Name", "StageName", "Amount", "Probability", "ExpectedRevenue", "CloseDate", "Type",
        "LeadSource", "IsClosed", "IsWon", "ForecastCategory", "CampaignId", "OwnerId", "IsPrivate", "IsDeleted",
        "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"], opportunity_rows)
    org.sequences["Opportunity"] = opportunities_n
    counts["Opportunity"] = opportunities_n
    contacts_by_account: dict[int, list[int]] = {}
    for contact_index, account_index in enumerate(c_account_index):
        contacts_by_account.setdefault(account_index, []).append(contact_index)
    role_rows = []
    roles = ("Decision Maker", "Economic Buyer", "Evaluator", "Technical Buyer", "Influencer")
    for i, opportunity_id in enumerate(opportunity_ids):
        candidates = contacts_by_account.get(o_account[i]) or [i % contacts_n]
        for position, contact_index in enumerate(candidates[:2]):
            role_rows.append((ids.make_id("00K", len(role_rows) + 1), opportunity_id, contact_ids[contact_index],
                              roles[(i + position) % len(roles)], int(position == 0), 0, o_stamps[i], user,
                              o_stamps[i], user, o_stamps[i]))
    org.insert_rows("OpportunityContactRole", ["Id", "OpportunityId", "ContactId", "Role", "IsPrimary", "IsDeleted",
                                               "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
                                               "SystemModstamp"], role_rows)
    org.sequences["OpportunityContactRole"] = len(role_rows)
    counts["OpportunityContactRole"] = len(role_rows)

    reports = _reports()
    org.insert_rows("Report", ["Id", "Name", "DeveloperName", "FolderName", "Format", "Description", "IsDeleted",
                               "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"],
                    [(r.id, r.name, r.developer_name, r.folder, "Tabular", None, 0, created, user, created, user,
                      created) for r in reports])
    org.sequences["Report"] = len(reports)
    counts["Report"] = len(reports)
    org.create_indexes()
    return SeedSummary(seed, str(scale), counts, anchor), reports


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


def write_events(org: Org, path: Path, *, seed: int, anchor: datetime, max_people: int = 5000) -> int:
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
    record = {"event_id": f"seed{seed}-{number:09d}", "event_type": event_type, "email": email,
              "occurred_at": when.astimezone(UTC).isoformat(timespec="seconds"), **extra}
    out.write(json.dumps(record) + "\n")
