from datetime import UTC, datetime

import pandas as pd
import pytest

from sync_pipeline.rules.consent import (
    LEDGER_COLUMNS,
    Decision,
    Evidence,
    Person,
    SalesforceRecord,
    consent_state,
    decide,
    ledger_entry,
    opt_out_evidence,
    people_of,
    resolve_consent,
    salesforce_updates,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
T = {day: pd.Timestamp(f"2026-04-{day:02d}T09:00:00Z") for day in range(1, 31)}


def marketing(*rows):
    base = {"opted_out": False, "opt_in_event_at": None, "opt_out_event_at": None}
    return pd.DataFrame([{**base, **row} for row in rows], columns=["contact_key", *base])


def salesforce(*rows):
    """Records as (crm_id, contact_key, has_opted_out, system_modstamp[, is_converted])."""
    full = [(*row, False) if len(row) == 4 else row for row in rows]
    return pd.DataFrame(full, columns=["crm_id", "contact_key", "has_opted_out", "system_modstamp", "is_converted"])


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
    # one entry: the person's transition, made on the marketing side; the ticks it causes are no transitions
    [row] = entries(plan)
    assert (row["system"], row["crm_id"], row["old_value"], row["new_value"]) == ("marketing", None, None, True)
    assert row["changed_at"] == NOW
    assert row["evidence"] == "unsubscribe event 2026-04-10T09:00:00+00:00"


def test_unsubscribe_event_sets_the_marketing_flag():
    plan = resolve(marketing({"contact_key": "K1", "opt_out_event_at": T[10]}), salesforce(), direction="pull")
    assert plan.marketing_updates == {"K1": True}
    assert entries(plan)[0]["old_value"] is None  # never recorded before


def test_opt_out_in_salesforce_is_pulled_with_evidence():
    plan = resolve(marketing({"contact_key": "K1"}), salesforce(("00Q1", "K1", True, T[5])))
    assert plan.marketing_updates == {"K1": True}
    assert plan.salesforce_updates == {}
    [row] = entries(plan)
    assert (row["contact_key"], row["crm_id"], row["system"], row["old_value"], row["new_value"]) == (
        "K1", "00Q1", "salesforce", None, True,
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
    assert plan.ledger_entries.empty  # the person's consent did not change: still opted out since T[2]


def test_marketing_flag_reset_without_opt_in_is_set_back_from_the_ledger():
    plan = resolve(marketing({"contact_key": "K1"}), salesforce(), ledger(("K1", True, T[2])))
    assert plan.marketing_updates == {"K1": True}
    assert plan.ledger_entries.empty


def test_newer_explicit_opt_in_resubscribes_and_is_propagated():
    m = marketing({"contact_key": "K1", "opted_out": True, "opt_out_event_at": T[1], "opt_in_event_at": T[15]})
    s = salesforce(("00Q1", "K1", True, T[3]))
    plan = resolve(m, s, ledger(("K1", True, T[2])))
    assert plan.marketing_updates == {"K1": False}
    assert plan.salesforce_updates == {"00Q1": False}
    rows = entries(plan)
    assert [(r["system"], r["crm_id"], r["old_value"], r["new_value"]) for r in rows] == [
        ("marketing", None, True, False),
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
    assert sorted(zip(plan.ledger_entries["contact_key"], plan.ledger_entries["system"], strict=True)) == [
        ("K1", "salesforce"), ("K2", "marketing")]


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


# --- the ledger records transitions of a person's consent, once each ---------------------------------------------


def ledger_rows(plan):
    """The entries without their run time: what two histories of the same changes must agree on."""
    return [(r["contact_key"], r["crm_id"], r["system"], r["old_value"], r["new_value"], r["evidence"])
            for r in entries(plan)]


def test_a_converted_lead_is_evidence_but_never_written_so_a_run_with_nothing_new_records_nothing():
    # Salesforce refuses writes to a converted Lead: the person's opt-out lives on its Contact (ticked).
    s = salesforce(("00Q1", "K1", False, T[3], True), ("0031", "K1", True, T[5]))
    first = resolve(marketing({"contact_key": "K1", "opted_out": True}), s)
    assert first.salesforce_updates == {} and first.marketing_updates == {}
    assert ledger_rows(first) == [
        ("K1", "0031", "salesforce", None, True,
         "HasOptedOutOfEmail ticked in Salesforce on 0031 (SystemModstamp 2026-04-05T09:00:00+00:00)")]
    # The next run, after our own push moved the Contact's SystemModstamp: nothing changed, nothing recorded.
    moved = salesforce(("00Q1", "K1", False, T[3], True), ("0031", "K1", True, T[20]))
    second = resolve(marketing({"contact_key": "K1", "opted_out": True}), moved, consent_state(first.ledger_entries))
    assert second.salesforce_updates == {} and second.marketing_updates == {}
    assert second.ledger_entries.empty


def test_a_converted_leads_tick_still_opts_the_person_out():
    s = salesforce(("00Q1", "K1", True, T[3], True), ("0031", "K1", False, T[5]))
    plan = resolve(marketing({"contact_key": "K1"}), s)
    assert plan.marketing_updates == {"K1": True}
    assert plan.salesforce_updates == {"0031": True}  # the Contact is ticked; the converted Lead is not written
    assert [(r["crm_id"], r["system"]) for r in entries(plan)] == [("00Q1", "salesforce")]


def test_bringing_a_side_in_line_with_a_known_opt_out_is_not_a_new_entry():
    # The ledger knows the opt-out; the flag was rebuilt from an unticked record, a new duplicate is unticked.
    s = salesforce(("00Q1", "K1", True, T[3]), ("00Q2", "K1", False, T[9]))
    plan = resolve(marketing({"contact_key": "K1"}), s, ledger(("K1", True, T[4])))
    assert plan.marketing_updates == {"K1": True}
    assert plan.salesforce_updates == {"00Q2": True}
    assert plan.ledger_entries.empty


def test_the_same_changes_give_the_same_ledger_whether_or_not_a_push_was_lost():
    """An unsubscribe, then two runs: one whose push went through, one whose push was lost (Salesforce unchanged,
    the marketing flag rebuilt from the unticked primary record)."""
    unsubscribed = marketing({"contact_key": "K1", "opted_out": True, "opt_out_event_at": T[10]})
    records = salesforce(("00Q1", "K1", False, T[1]), ("0031", "K1", False, T[2]))
    first = resolve(unsubscribed, records)
    assert first.salesforce_updates == {"00Q1": True, "0031": True}
    state = consent_state(first.ledger_entries)

    pushed = salesforce(("00Q1", "K1", True, pd.Timestamp(NOW)), ("0031", "K1", True, pd.Timestamp(NOW)))
    went_through = resolve(unsubscribed, pushed, state)
    lost = resolve(unsubscribed.assign(opted_out=False), records, state)
    assert went_through.ledger_entries.empty and lost.ledger_entries.empty
    assert lost.salesforce_updates == {"00Q1": True, "0031": True} and lost.marketing_updates == {"K1": True}
    assert ledger_rows(first) == [("K1", None, "marketing", None, True, "unsubscribe event 2026-04-10T09:00:00+00:00")]


# --- the steps: evidence → decision → updates and ledger entry ---------------------------------------------------


def person(**values):
    base = {"contact_key": "K1", "flag": False, "ledger_value": None, "ledger_at": None, "opt_in_at": None,
            "opt_out_at": None, "records": ()}
    return Person(**{**base, **values})


def test_people_gather_both_sides_and_the_ledger_per_key():
    [one] = people_of(marketing({"contact_key": "K1", "opted_out": True, "opt_out_event_at": "2026-04-03 09:00"}),
                      salesforce(("0031", "K1", "true", T[5]), ("00Q1", "K1", False, T[3], "true")),
                      ledger(("K1", True, T[4])))
    assert one == person(flag=True, ledger_value=True, ledger_at=T[4], opt_out_at=T[3], records=(
        SalesforceRecord("0031", True, T[5], True), SalesforceRecord("00Q1", False, T[3], False)))


def test_evidence_lists_every_opt_out_and_ticks_only_when_the_direction_pulls():
    records = (SalesforceRecord("00Q1", True, T[3], False), SalesforceRecord("0031", False, T[5], True))
    somebody = person(flag=True, opt_out_at=T[2], records=records)
    assert opt_out_evidence(somebody, pulls=True) == [
        Evidence(T[2], "unsubscribe event 2026-04-02T09:00:00+00:00"),
        Evidence(T[2], "opted out in the marketing database"),
        Evidence(T[3], "HasOptedOutOfEmail ticked in Salesforce on 00Q1 (SystemModstamp 2026-04-03T09:00:00+00:00)",
                 "salesforce", "00Q1"),
    ]
    assert [item.text for item in opt_out_evidence(person(ledger_value=True, ledger_at=T[4], records=records),
                                                   pulls=False)] == [
        "consent ledger: opted out since 2026-04-04T09:00:00+00:00"]


def test_the_decision_is_the_newest_dated_opt_out_unless_an_opt_in_is_newer_than_all():
    older, newer, undated = Evidence(T[2], "a"), Evidence(T[6], "b", "salesforce", "0031"), Evidence(None, "c")
    assert decide(person(), []) == Decision(False, False, None)
    assert decide(person(), [older, newer]) == Decision(True, False, newer)
    assert decide(person(), [undated]) == Decision(True, False, undated)
    assert decide(person(opt_in_at=T[6]), [older, newer]).opted_out  # not strictly newer
    assert decide(person(opt_in_at=T[9]), [older, undated]).opted_out  # an undated opt-out stands
    resubscribed = decide(person(opt_in_at=T[9]), [older, newer])
    assert (resubscribed.opted_out, resubscribed.resubscribed, resubscribed.cause) == (False, True, Evidence(
        T[9], "opt-in event 2026-04-09T09:00:00+00:00 (newer than the latest opt-out, 2026-04-06T09:00:00+00:00)"))


def test_only_writable_records_are_ticked_and_only_older_ones_unticked():
    records = (SalesforceRecord("00Q1", False, T[3], False), SalesforceRecord("0031", False, T[5], True),
               SalesforceRecord("0032", True, T[5], True))
    assert salesforce_updates(person(records=records), Decision(True, False, None)) == {"0031": True}
    ticked = (SalesforceRecord("0031", True, T[5], True), SalesforceRecord("0032", True, T[12], True),
              SalesforceRecord("00Q1", True, T[1], False))
    assert salesforce_updates(person(opt_in_at=T[9], records=ticked), Decision(False, True, None)) == {"0031": False}


def test_a_ledger_entry_is_made_only_for_a_transition():
    tick = Evidence(T[5], "ticked", "salesforce", "0031")
    assert ledger_entry(person(), Decision(False, False, None), NOW) is None  # never opted out: nothing to record
    assert ledger_entry(person(ledger_value=True), Decision(True, False, tick), NOW) is None
    assert ledger_entry(person(ledger_value=False), Decision(True, False, tick), NOW) == {
        "contact_key": "K1", "crm_id": "0031", "system": "salesforce", "old_value": False, "new_value": True,
        "changed_at": NOW, "evidence": "ticked"}
    back = ledger_entry(person(ledger_value=True), Decision(False, True, Evidence(T[9], "opt-in")), NOW)
    assert back is not None and (back["system"], back["old_value"], back["new_value"]) == ("marketing", True, False)
