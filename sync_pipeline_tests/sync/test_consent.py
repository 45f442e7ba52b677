from datetime import UTC, datetime

import pandas as pd
import pytest

from sync_pipeline.sync.consent import LEDGER_COLUMNS, consent_state, resolve_consent

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
T = {day: pd.Timestamp(f"2026-04-{day:02d}T09:00:00Z") for day in range(1, 31)}


def marketing(*rows):
    base = {"opted_out": False, "opt_in_event_at": None, "opt_out_event_at": None}
    return pd.DataFrame([{**base, **row} for row in rows], columns=["contact_key", *base])


def salesforce(*rows):
    return pd.DataFrame(list(rows), columns=["crm_id", "contact_key", "has_opted_out", "system_modstamp"])


def ledger(*rows):
    return pd.DataFrame(list(rows), columns=["contact_key", "opted_out", "changed_at"])


def resolve(m, s, led=None, direction="both"):
    return resolve_consent(m, s, led if led is not None else ledger(), direction, NOW)


def entries(plan):
    return plan.ledger_entries.sort_values(["system", "crm_id"], na_position="first").to_dict("records")


def test_nothing_to_do_gives_an_empty_plan():
    plan = resolve(marketing({"contact_key": "K1"}), salesforce(("00Q1", "K1", False, T[1])))
    assert plan.marketing_updates == {}
    assert plan.salesforce_updates == {}
    assert plan.ledger_entries.empty
    assert list(plan.ledger_entries.columns) == list(LEDGER_COLUMNS)


def test_unsubscribe_in_marketing_is_pushed_with_ledger_evidence():
    m = marketing({"contact_key": "K1", "opted_out": True, "opt_out_event_at": T[10]})
    plan = resolve(m, salesforce(("00Q1", "K1", False, T[1]), ("0031", "K1", False, T[2])))
    assert plan.marketing_updates == {}
    assert plan.salesforce_updates == {"00Q1": True, "0031": True}
    rows = entries(plan)
    # the marketing opt-out the ledger did not know yet, then one entry per Salesforce record ticked
    assert [(r["system"], r["crm_id"], r["old_value"], r["new_value"]) for r in rows] == [
        ("marketing", None, None, True),
        ("salesforce", "0031", False, True),
        ("salesforce", "00Q1", False, True),
    ]
    assert all(r["changed_at"] == NOW for r in rows)
    assert all(r["evidence"] == "unsubscribe event 2026-04-10T09:00:00+00:00" for r in rows)


def test_unsubscribe_event_sets_the_marketing_flag():
    plan = resolve(marketing({"contact_key": "K1", "opt_out_event_at": T[10]}), salesforce(), direction="pull")
    assert plan.marketing_updates == {"K1": True}
    assert entries(plan)[0]["old_value"] is False


def test_opt_out_in_salesforce_is_pulled_with_evidence():
    plan = resolve(marketing({"contact_key": "K1"}), salesforce(("00Q1", "K1", True, T[5])))
    assert plan.marketing_updates == {"K1": True}
    assert plan.salesforce_updates == {}
    [row] = entries(plan)
    assert (row["contact_key"], row["crm_id"], row["system"], row["old_value"], row["new_value"]) == (
        "K1", None, "marketing", False, True,
    )
    assert row["evidence"] == (
        "HasOptedOutOfEmail ticked in Salesforce on 00Q1 (SystemModstamp 2026-04-05T09:00:00+00:00)"
    )


def test_opt_out_on_one_record_ticks_the_persons_other_records():
    s = salesforce(("00Q1", "K1", True, T[5]), ("0031", "K1", False, T[3]))
    plan = resolve(marketing({"contact_key": "K1"}), s)
    assert plan.marketing_updates == {"K1": True}
    assert plan.salesforce_updates == {"0031": True}


def test_untick_in_salesforce_does_not_resubscribe_and_is_reticked():
    m = marketing({"contact_key": "K1", "opted_out": True})
    led = ledger(("K1", True, T[2]))
    plan = resolve(m, salesforce(("00Q1", "K1", False, T[20])), led, direction="both")
    assert plan.marketing_updates == {}
    assert plan.salesforce_updates == {"00Q1": True}
    [row] = entries(plan)
    assert (row["system"], row["crm_id"], row["old_value"], row["new_value"]) == ("salesforce", "00Q1", False, True)
    assert row["evidence"] == "consent ledger: opted out since 2026-04-02T09:00:00+00:00"


def test_marketing_flag_reset_without_opt_in_is_set_back_from_the_ledger():
    plan = resolve(marketing({"contact_key": "K1"}), salesforce(), ledger(("K1", True, T[2])))
    assert plan.marketing_updates == {"K1": True}


def test_newer_explicit_opt_in_resubscribes_and_is_propagated():
    m = marketing({"contact_key": "K1", "opted_out": True, "opt_out_event_at": T[1], "opt_in_event_at": T[15]})
    s = salesforce(("00Q1", "K1", True, T[3]))
    plan = resolve(m, s, ledger(("K1", True, T[2])))
    assert plan.marketing_updates == {"K1": False}
    assert plan.salesforce_updates == {"00Q1": False}
    rows = entries(plan)
    assert [(r["system"], r["old_value"], r["new_value"]) for r in rows] == [
        ("marketing", True, False),
        ("salesforce", True, False),
    ]
    assert rows[0]["evidence"] == (
        "opt-in event 2026-04-15T09:00:00+00:00 (newer than the latest opt-out, 2026-04-03T09:00:00+00:00)"
    )


@pytest.mark.parametrize(
    ("opt_out_at", "ledger_at", "tick_at"),
    [(T[20], T[2], T[3]), (T[1], T[20], T[3]), (T[1], T[2], T[20]), (T[1], T[2], T[15])],
    ids=["older-than-event", "older-than-ledger", "older-than-salesforce-tick", "same-time-as-tick"],
)
def test_opt_in_not_newer_than_every_opt_out_does_not_resubscribe(opt_out_at, ledger_at, tick_at):
    m = marketing({"contact_key": "K1", "opted_out": True, "opt_out_event_at": opt_out_at, "opt_in_event_at": T[15]})
    plan = resolve(m, salesforce(("00Q1", "K1", True, tick_at)), ledger(("K1", True, ledger_at)))
    assert plan.marketing_updates == {}
    assert plan.salesforce_updates == {}
    assert plan.ledger_entries.empty


def test_undated_marketing_opt_out_stands_and_is_recorded():
    m = marketing({"contact_key": "K1", "opted_out": True, "opt_in_event_at": T[15]})
    plan = resolve(m, salesforce())
    assert plan.marketing_updates == {}
    [row] = entries(plan)
    assert (row["system"], row["old_value"], row["new_value"], row["evidence"]) == (
        "marketing", None, True, "opted out in the marketing database",
    )
    # the next run knows when it was recorded; an opt-in after that re-subscribes
    later = resolve_consent(
        marketing({"contact_key": "K1", "opted_out": True, "opt_in_event_at": pd.Timestamp("2026-05-02", tz="UTC")}),
        salesforce(),
        consent_state(plan.ledger_entries),
        "both",
        datetime(2026, 5, 3, tzinfo=UTC),
    )
    assert later.marketing_updates == {"K1": False}


def test_direction_push_ignores_salesforce_ticks_but_never_unticks_them():
    s = salesforce(("00Q1", "K1", True, T[5]), ("00Q2", "K2", False, T[5]))
    m = marketing({"contact_key": "K1"}, {"contact_key": "K2", "opted_out": True, "opt_out_event_at": T[4]})
    plan = resolve(m, s, direction="push")
    assert plan.marketing_updates == {}
    assert plan.salesforce_updates == {"00Q2": True}


def test_direction_pull_takes_salesforce_ticks_but_writes_nothing_to_salesforce():
    s = salesforce(("00Q1", "K1", True, T[5]), ("00Q2", "K2", False, T[5]))
    m = marketing({"contact_key": "K1"}, {"contact_key": "K2", "opted_out": True, "opt_out_event_at": T[4]})
    plan = resolve(m, s, direction="pull")
    assert plan.marketing_updates == {"K1": True}
    assert plan.salesforce_updates == {}
    assert set(plan.ledger_entries["system"]) == {"marketing"}


def test_opt_in_unticks_only_records_older_than_it():
    m = marketing({"contact_key": "K1", "opted_out": True, "opt_in_event_at": T[15]})
    s = salesforce(("00Q1", "K1", True, T[3]), ("0031", "K1", True, T[16]))
    plan = resolve(m, s, ledger(("K1", True, T[2])), direction="push")
    # with push only, the newer tick on 0031 is not taken in, but it is not undone either
    assert plan.marketing_updates == {"K1": False}
    assert plan.salesforce_updates == {"00Q1": False}


def test_resolution_is_stable_once_applied():
    m = marketing({"contact_key": "K1", "opted_out": True, "opt_out_event_at": T[10]})
    first = resolve(m, salesforce(("00Q1", "K1", False, T[1])))
    applied = salesforce(("00Q1", "K1", first.salesforce_updates["00Q1"], pd.Timestamp(NOW)))
    second = resolve(m, applied, consent_state(first.ledger_entries))
    assert second.marketing_updates == {} and second.salesforce_updates == {} and second.ledger_entries.empty


def test_ledger_state_is_the_latest_entry_per_person():
    led = pd.DataFrame(
        [
            {"contact_key": "K1", "new_value": True, "changed_at": T[1]},
            {"contact_key": "K1", "new_value": False, "changed_at": T[9]},
            {"contact_key": "K2", "new_value": True, "changed_at": T[3]},
        ]
    )
    state = consent_state(led)
    assert state.to_dict("records") == [
        {"contact_key": "K1", "opted_out": False, "changed_at": T[9]},
        {"contact_key": "K2", "opted_out": True, "changed_at": T[3]},
    ]


def test_unlinked_salesforce_records_are_left_alone_and_bad_direction_is_refused():
    plan = resolve(marketing(), salesforce(("00Q1", None, True, T[1])))
    assert plan.marketing_updates == {} and plan.salesforce_updates == {}
    with pytest.raises(ValueError, match="direction"):
        resolve(marketing(), salesforce(), direction="sideways")
