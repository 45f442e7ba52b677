"""Hot prospects per owner (rules of rules/hot_prospects.py): ties, windows, flags, owners with few prospects."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from sync_pipeline.rules.hot_prospects import HOT_PROSPECT_COLUMNS, rank_hot_prospects
from sync_pipeline.settings.model import HotProspectSettings

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
SETTINGS = HotProspectSettings(top_n=2, min_score=10, activity_days=30)


def person(key, owner="U1", score=50.0, days_ago=1.0, **overrides):
    row = {
        "contact_key": key,
        "email": f"{key.lower()}@x.com",
        "crm_type": "Lead",
        "crm_id": f"00Q{key}",
        "first_name": f"First{key}",
        "last_name": f"Last{key}",
        "company": "Acme",
        "owner_id": owner,
        "behavioral_score": score,
        "lead_score": score,
        "last_activity_at": None if days_ago is None else NOW - timedelta(days=days_ago),
        "opted_out": False,
        "hard_bounced": False,
        "is_active": True,
    }
    row.update(overrides)
    return row


def people(*rows):
    frame = pd.DataFrame(list(rows))
    frame["last_activity_at"] = pd.to_datetime(frame["last_activity_at"], utc=True)
    return frame


def sources(*pairs):
    return pd.DataFrame({"contact_key": [key for key, _ in pairs], "source": [source for _, source in pairs]})


def all_assigned(frame):
    return sources(*[(key, "assigned_leads") for key in frame["contact_key"]])


USERS = pd.DataFrame(
    {
        "user_id": ["U1", "U2", "U3"],
        "name": ["Bea Owner", "Al Owner", "Cy Gone"],
        "email": ["bea@corp.com", "al@corp.com", "cy@corp.com"],
        "is_active": [True, True, False],
    }
)


def rank(frame, source_frame=None, settings=SETTINGS, users=USERS):
    return rank_hot_prospects(frame, all_assigned(frame) if source_frame is None else source_frame, users,
                              settings, NOW)


def keys_of(result, owner):
    return list(result.loc[result["owner_id"] == owner, "contact_key"])


def test_top_n_per_owner_by_score_and_an_owner_with_fewer_gets_only_those():
    frame = people(
        person("A", "U1", 30), person("B", "U1", 90), person("C", "U1", 60), person("D", "U2", 20),
    )
    result = rank(frame)
    assert list(result.columns) == list(HOT_PROSPECT_COLUMNS)
    # Sorted by owner_name: "Al Owner" (U2) before "Bea Owner" (U1).
    assert list(result["owner_id"]) == ["U2", "U1", "U1"]
    assert keys_of(result, "U1") == ["B", "C"]
    assert list(result.loc[result["owner_id"] == "U1", "rank"]) == [1, 2]
    assert keys_of(result, "U2") == ["D"]
    assert result["rank"].dtype == "int64"
    row = result.set_index("contact_key").loc["B"]
    assert row["owner_name"] == "Bea Owner"
    assert row["owner_email"] == "bea@corp.com"
    assert bool(row["owner_active"]) is True
    assert result["owner_active"].dtype == bool
    assert row["score"] == 90.0
    assert row["crm_id"] == "00QB"
    assert row["first_name"] == "FirstB"
    assert row["last_activity_at"] == pd.Timestamp(NOW - timedelta(days=1))


def test_ties_go_to_the_later_activity_then_the_lower_contact_key():
    frame = people(
        person("K3", score=50, days_ago=5),
        person("K2", score=50, days_ago=2),  # same score, later activity: first
        person("K1", score=50, days_ago=5),  # same score and activity as K3: K1 < K3
    )
    result = rank(frame, settings=HotProspectSettings(top_n=5, min_score=10, activity_days=30))
    assert list(result["contact_key"]) == ["K2", "K1", "K3"]
    assert list(result["rank"]) == [1, 2, 3]  # row_number: no shared ranks for equal scores


def test_ties_are_cut_at_top_n_deterministically():
    frame = people(person("K2", score=50, days_ago=5), person("K1", score=50, days_ago=5),
                   person("K3", score=50, days_ago=5))
    assert list(rank(frame)["contact_key"]) == ["K1", "K2"]


def test_opted_out_and_bounced_people_are_kept_and_flagged():
    frame = people(person("A", score=80, opted_out=True), person("B", score=70, hard_bounced=True))
    result = rank(frame).set_index("contact_key")
    assert list(result.index) == ["A", "B"]
    assert result.loc["A", "opted_out"] and not result.loc["A", "hard_bounced"]
    assert result.loc["B", "hard_bounced"] and not result.loc["B", "opted_out"]
    assert result["opted_out"].dtype == bool


def test_activity_window_edge():
    days = SETTINGS.activity_days
    frame = people(
        person("EDGE", score=50, days_ago=days),  # exactly activity_days ago: inside
        person("OUT", score=60, days_ago=days + 1 / 86_400),  # one second more: outside
        person("NONE", score=70, days_ago=None),  # no activity: outside
    )
    assert list(rank(frame)["contact_key"]) == ["EDGE"]


def test_min_score_is_strict_and_a_missing_score_is_out():
    frame = people(person("AT", score=10.0), person("ABOVE", score=10.01), person("NAN", score=float("nan")))
    result = rank(frame)
    assert list(result["contact_key"]) == ["ABOVE"]
    assert result["score"].iloc[0] == 10.01


def test_inactive_people_and_people_in_no_source_are_excluded():
    frame = people(person("ACTIVE", score=20), person("GONE", score=90, is_active=False), person("NOLIST", score=95))
    result = rank(frame, sources(("ACTIVE", "assigned_leads"), ("GONE", "assigned_leads")))
    assert list(result["contact_key"]) == ["ACTIVE"]


def test_unknown_owner_and_no_owner():
    frame = people(
        person("KNOWN", "U1", 20), person("GHOST", "U9", 30), person("ORPHAN", None, 40), person("STALE", "U3", 50),
    )
    result = rank(frame)
    # owner_name order: Bea Owner (U1), Cy Gone (U3), then the unnamed: U9, then no owner at all.
    assert list(result["contact_key"]) == ["KNOWN", "STALE", "GHOST", "ORPHAN"]
    ghost = result.set_index("contact_key").loc["GHOST"]
    assert ghost["owner_id"] == "U9"
    assert ghost["owner_name"] is None and ghost["owner_email"] is None
    assert not ghost["owner_active"]
    orphan = result.set_index("contact_key").loc["ORPHAN"]
    assert orphan["owner_id"] is None and orphan["owner_name"] is None and not orphan["owner_active"]
    assert orphan["rank"] == 1
    assert not result.set_index("contact_key").loc["STALE", "owner_active"]  # a known but inactive user


def test_people_without_owner_form_one_group_ranked_together():
    frame = people(person("N1", None, 20), person("N2", None, 40), person("N3", None, 30))
    result = rank(frame)
    assert list(result["contact_key"]) == ["N2", "N3"]
    assert list(result["rank"]) == [1, 2]


def test_a_person_in_several_sources_appears_once_with_sources_in_fixed_order():
    frame = people(person("A", score=50), person("B", score=40))
    listed = sources(
        ("A", "assigned_contacts"), ("A", "assigned_leads"), ("A", "assigned_contacts"), ("B", "active_opportunities"),
        ("B", "assigned_contacts"),
    )
    result = rank(frame, listed).set_index("contact_key")
    assert len(result) == 2
    assert result.loc["A", "sources"] == "assigned_leads,assigned_contacts"
    assert result.loc["B", "sources"] == "active_opportunities,assigned_contacts"


def test_an_unknown_source_label_is_an_error():
    frame = people(person("A"))
    with pytest.raises(ValueError, match="'hot_leads'"):
        rank(frame, sources(("A", "hot_leads")))


def test_no_candidates_gives_an_empty_frame_with_the_columns():
    frame = people(person("A", score=1))
    result = rank(frame)
    assert result.empty
    assert list(result.columns) == list(HOT_PROSPECT_COLUMNS)
