from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from sync_pipeline.rules.events import empty_events
from sync_pipeline.rules.scoring import (
    SCORE_COLUMNS,
    behavioral_scores,
    lead_score_value,
    lead_score_values,
    maintenance,
    score_writes,
)
from sync_pipeline.settings.model import ScoringSettings

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
RULES = ScoringSettings().rules  # email_open 1, email_click 3, form_submit 10, page_visit 1


def events(*rows):
    """Rows of (event_type, email, days_ago)."""
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(rows))],
            "event_type": [row[0] for row in rows],
            "email": [row[1] for row in rows],
            "occurred_at": pd.to_datetime([NOW - timedelta(days=row[2]) for row in rows], utc=True),
        }
    )


def contacts(*pairs):
    return pd.DataFrame({"contact_key": [key for key, _ in pairs], "email": [email for _, email in pairs]})


def scores(event_frame, contact_frame, rules=RULES, half_life=30):
    return behavioral_scores(event_frame, contact_frame, rules, half_life, NOW).set_index("contact_key")


def test_one_open_a_half_life_ago_is_worth_half_a_point():
    result = scores(events(("email_open", "ann@x.com", 30)), contacts(("K1", "ann@x.com")))
    assert result.loc["K1", "behavioral_score"] == 0.5
    assert result.loc["K1", "event_count"] == 1
    assert result.loc["K1", "last_activity_at"] == pd.Timestamp(NOW - timedelta(days=30))


def test_points_add_up_with_decay():
    frame = events(
        ("form_submit", "ann@x.com", 0),  # 10
        ("email_click", "ann@x.com", 60),  # 3 * 0.25 = 0.75
        ("page_visit", "ann@x.com", 15),  # 1 * 2 ** -0.5 = 0.7071
    )
    result = scores(frame, contacts(("K1", "ann@x.com")))
    assert result.loc["K1", "behavioral_score"] == 11.46
    assert result.loc["K1", "event_count"] == 3
    assert result.loc["K1", "last_activity_at"] == pd.Timestamp(NOW)


def test_half_life_is_a_parameter():
    result = scores(events(("form_submit", "ann@x.com", 10)), contacts(("K1", "ann@x.com")), half_life=5)
    assert result.loc["K1", "behavioral_score"] == 2.5


def test_future_events_count_as_age_zero():
    result = scores(events(("email_click", "ann@x.com", -3)), contacts(("K1", "ann@x.com")))
    assert result.loc["K1", "behavioral_score"] == 3.0
    assert result.loc["K1", "last_activity_at"] == pd.Timestamp(NOW + timedelta(days=3))


def test_event_types_without_a_rule_score_zero_but_are_activity():
    frame = events(("email_send", "ann@x.com", 1), ("hard_bounce", "ann@x.com", 2))
    result = scores(frame, contacts(("K1", "ann@x.com")))
    assert result.loc["K1", "behavioral_score"] == 0.0
    assert result.loc["K1", "event_count"] == 2
    assert result.loc["K1", "last_activity_at"] == pd.Timestamp(NOW - timedelta(days=1))


def test_events_match_contacts_by_normalized_email():
    frame = events(("email_open", " ANN@X.com", 0), ("email_open", "ann@x.com", 0))
    result = scores(frame, contacts(("K1", "Ann@X.COM ")))
    assert result.loc["K1", "behavioral_score"] == 2.0


def test_unmatched_events_are_ignored_and_counted():
    frame = events(
        ("email_open", "ann@x.com", 0),
        ("form_submit", "ghost@x.com", 0),
        ("form_submit", "ghost@x.com", 0),
        ("form_submit", None, 0),
    )
    result = behavioral_scores(frame, contacts(("K1", "ann@x.com")), RULES, 30, NOW)
    assert list(result["behavioral_score"]) == [1.0]
    assert result.attrs["unmatched_events"] == 3
    assert result.attrs["unmatched_emails"] == 1


def test_an_email_shared_by_several_contacts_credits_each():
    result = scores(events(("form_submit", "ann@x.com", 0)), contacts(("K1", "ann@x.com"), ("K2", "ANN@x.com")))
    assert list(result["behavioral_score"]) == [10.0, 10.0]
    assert list(result["event_count"]) == [1, 1]


def test_one_row_per_contact_and_zero_without_events():
    frame = events(("email_open", "ann@x.com", 0))
    result = behavioral_scores(frame, contacts(("K1", "ann@x.com"), ("K2", "bo@x.com"), ("K3", None)), RULES, 30, NOW)
    assert list(result.columns) == list(SCORE_COLUMNS)
    assert list(result["contact_key"]) == ["K1", "K2", "K3"]
    assert list(result["behavioral_score"]) == [1.0, 0.0, 0.0]
    assert list(result["event_count"]) == [1, 0, 0]
    assert result["last_activity_at"].isna().tolist() == [False, True, True]
    assert str(result["last_activity_at"].dtype) == "datetime64[ns, UTC]"


def test_no_events_at_all():
    result = behavioral_scores(empty_events(), contacts(("K1", "ann@x.com")), RULES, 30, NOW)
    assert list(result["behavioral_score"]) == [0.0]
    assert list(result["event_count"]) == [0]
    assert result["last_activity_at"].isna().all()
    assert result.attrs["unmatched_events"] == 0


def test_negative_totals_are_floored_at_zero():
    rules = {**RULES, "unsubscribe": -20}
    frame = events(("form_submit", "ann@x.com", 0), ("unsubscribe", "ann@x.com", 0), ("form_submit", "bo@x.com", 0),
                   ("unsubscribe", "bo@x.com", 30))
    result = scores(frame, contacts(("K1", "ann@x.com"), ("K2", "bo@x.com")), rules=rules)
    assert result.loc["K1", "behavioral_score"] == 0.0
    assert result.loc["K2", "behavioral_score"] == 0.0  # 10 - 20 * 0.5 = 0


def test_scores_are_rounded_to_two_decimals():
    result = scores(events(("page_visit", "ann@x.com", 10)), contacts(("K1", "ann@x.com")))
    assert result.loc["K1", "behavioral_score"] == 0.79  # 2 ** (-1/3) = 0.7937


def test_duplicate_events_do_not_count_twice_once_read():
    from sync_pipeline.rules.events import read_event_lines

    line = ('{"event_id": "a", "event_type": "form_submit", "email": "ann@x.com", '
            '"occurred_at": "2026-03-01T12:00:00Z"}')
    batch = read_event_lines([line, line, line], "drop.jsonl", now=NOW)
    result = scores(batch.events, contacts(("K1", "ann@x.com")))
    assert result.loc["K1", "behavioral_score"] == 10.0
    assert result.loc["K1", "event_count"] == 1


@pytest.mark.parametrize(
    ("score", "value"),
    [(0.0, 0), (0.49, 0), (0.5, 1), (1.5, 2), (2.5, 3), (11.46, 11), (-3.0, 0), (999_999.4, 999_999),
     (1_500_000.0, 999_999), (float("nan"), 0), (None, 0)],
)
def test_lead_score_value_rounds_half_up_and_clamps(score, value):
    assert lead_score_value(score) == value
    assert isinstance(lead_score_value(score), int)


def test_lead_score_values_agree_with_the_scalar():
    column = pd.Series([0.0, 0.49, 0.5, 1.5, 2.5, -3.0, 1_500_000.0, None])
    assert list(lead_score_values(column)) == [lead_score_value(v) for v in [0.0, 0.49, 0.5, 1.5, 2.5, -3.0,
                                                                           1_500_000.0, None]]


def test_maintenance_copies_the_behavioral_score_into_the_lead_score():
    audience = pd.DataFrame(
        {
            "contact_key": ["K1", "K2", "K3", "K4"],
            "email": ["ann@x.com", "bo@x.com", "cy@x.com", "di@x.com"],
            "behavioral_score": [3.0, 7.0, 1.0, None],
            "lead_score": [3, 12, None, 4],
            "first_name": ["Ann", "Bo", "Cy", "Di"],
        }
    )
    new_scores = pd.DataFrame({"contact_key": ["K1", "K2", "K3"], "behavioral_score": [2.5, 12.4, 0.0]})
    result = maintenance(audience, new_scores).set_index("contact_key")
    assert list(result["behavioral_score"]) == [2.5, 12.4, 0.0, 0.0]  # K4 has no score row: 0.0
    assert list(result["lead_score"]) == [3, 12, 0, 0]
    assert list(result["lead_score_changed"]) == [False, False, True, True]
    assert result["lead_score_changed"].dtype == bool
    assert list(result["first_name"]) == ["Ann", "Bo", "Cy", "Di"]
    assert list(audience["lead_score"].fillna(-1)) == [3, 12, -1, 4]  # the input is not modified


def test_maintenance_without_a_previous_lead_score_marks_every_contact_changed():
    audience = pd.DataFrame({"contact_key": ["K1"], "email": ["ann@x.com"]})
    result = maintenance(audience, pd.DataFrame({"contact_key": ["K1"], "behavioral_score": [0.4]}))
    assert list(result["lead_score"]) == [0]
    assert list(result["lead_score_changed"]) == [True]


def test_scores_flow_into_maintenance_end_to_end():
    people = contacts(("K1", "ann@x.com"), ("K2", "bo@x.com"))
    result = behavioral_scores(events(("email_open", "ann@x.com", 30), ("email_click", "ann@x.com", 0)),
                               people, RULES, 30, NOW)
    updated = maintenance(people.assign(lead_score=[0, 0]), result).set_index("contact_key")
    assert updated.loc["K1", "behavioral_score"] == 3.5
    assert updated.loc["K1", "lead_score"] == 4  # 3.5 rounds half up
    assert list(updated["lead_score_changed"]) == [True, False]


def test_score_writes_mark_changed_only_people_whose_lead_score_or_activity_moved() -> None:
    at = pd.Timestamp("2026-03-01T10:00:00Z")
    previous = pd.DataFrame({"contact_key": ["decimals", "whole", "activity", "same", "new"],
                             "behavioral_score": [9.9, 2.52, 4.0, 1.0, None],
                             "lead_score": [10.0, 3.0, 4.0, 1.0, None],
                             "last_activity_at": [at, at, at, at, pd.NaT]})
    scores = pd.DataFrame({"contact_key": previous["contact_key"], "behavioral_score": [9.7, 2.46, 4.0, 1.0, 0.0],
                           "last_activity_at": [at, at, at + pd.Timedelta(hours=1), at, pd.NaT],
                           "event_count": [1, 1, 2, 1, 0]})
    writes = score_writes(previous, maintenance(previous, scores), scores)
    # "new" had no lead score before: a missing previous value counts as changed (rule 6).
    assert list(writes.changed["contact_key"]) == ["whole", "activity", "new"]
    assert list(writes.changed["lead_score"]) == [2, 4, 0]
    assert writes.decimals_only.to_dict("records") == [{"contact_key": "decimals", "behavioral_score": 9.7}]
