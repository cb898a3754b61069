"""Date, places, attendance and late-declaration rules, without database or broker."""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sessions.domain.calendar import WorkingCalendar
from sessions.domain.training import (
    InterruptionSpan,
    MonthlyAttendance,
    RuleBroken,
    SessionPeriod,
    cancel_void_reason,
    check_attendance,
    check_entry,
    check_exit,
    check_interruption,
    check_resumption,
    exit_void_reason,
    holds_place,
    months_after,
    realised_cost,
    recruitment_state_after,
)

REGULAR = SessionPeriod(date(2026, 1, 5), date(2026, 6, 26), places=2, permanent_entries=False)
PERMANENT = SessionPeriod(date(2026, 1, 5), date(2026, 6, 26), places=2, permanent_entries=True)


def broken(check, *args, **kwargs) -> str:
    with pytest.raises(RuleBroken) as error:
        check(*args, **kwargs)
    return error.value.field


# ---------------------------------------------------------------- entry and places


def test_entry_inside_the_period():
    check_entry(REGULAR, date(2026, 1, 5), 0)
    check_entry(REGULAR, date(2026, 6, 26), 0)
    assert broken(check_entry, REGULAR, date(2026, 1, 4), 0) == "body.entry_date"
    assert broken(check_entry, REGULAR, date(2026, 6, 27), 0) == "body.entry_date"


def test_permanent_entries_accept_any_day_until_the_end():
    check_entry(PERMANENT, date(2025, 12, 15), 0)
    check_entry(PERMANENT, date(2026, 6, 26), 0)
    assert broken(check_entry, PERMANENT, date(2026, 6, 27), 0) == "body.entry_date"


def test_no_entry_beyond_the_places():
    check_entry(REGULAR, date(2026, 2, 1), 1)
    with pytest.raises(RuleBroken, match="full"):
        check_entry(REGULAR, date(2026, 2, 1), 2)


def test_places_held_and_recruitment_state():
    assert holds_place("in_training", False) and holds_place("interrupted", True)
    assert holds_place("exited", False) and not holds_place("exited", True)
    assert not holds_place("enrolled", False) and not holds_place("cancelled", False)
    assert recruitment_state_after("open", 2, 2) == "full"
    assert recruitment_state_after("full", 2, 1) == "open"
    assert recruitment_state_after("closed", 2, 2) == "closed"
    assert recruitment_state_after("open", 2, 1) == "open"


# ---------------------------------------------------------------- interruptions and exit in order

ENTRY = date(2026, 1, 5)


def test_interruption_after_entry_and_in_order():
    check_interruption(ENTRY, [], date(2026, 1, 5), None)
    assert broken(check_interruption, ENTRY, [], date(2026, 1, 4), None) == "body.start_date"
    done = [InterruptionSpan(date(2026, 2, 2), date(2026, 2, 16))]
    assert broken(check_interruption, ENTRY, done, date(2026, 2, 10), None) == "body.start_date"
    check_interruption(ENTRY, done, date(2026, 2, 16), None)
    assert broken(check_interruption, ENTRY, [], date(2026, 2, 2), date(2026, 2, 2)) == "body.expected_return_date"


def test_resumption_after_the_interruption():
    check_resumption(InterruptionSpan(date(2026, 2, 2), None), date(2026, 2, 3))
    assert broken(check_resumption, InterruptionSpan(date(2026, 2, 2), None), date(2026, 2, 2)) == "body.resumption_date"


def test_exit_after_entry_and_every_declaration():
    check_exit(ENTRY, [], ENTRY)
    assert broken(check_exit, ENTRY, [], date(2026, 1, 4)) == "body.exit_date"
    spans = [InterruptionSpan(date(2026, 2, 2), date(2026, 2, 16))]
    assert broken(check_exit, ENTRY, spans, date(2026, 2, 10)) == "body.exit_date"
    check_exit(ENTRY, spans, date(2026, 2, 16))


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)), st.integers(0, 200), st.integers(0, 200))
def test_an_exit_never_precedes_a_declared_event(entry, gap, back):
    spans = [InterruptionSpan(entry.fromordinal(entry.toordinal() + gap), None)]
    exit_day = date.fromordinal(entry.toordinal() + gap - back)
    try:
        check_exit(entry, spans, exit_day)
    except RuleBroken:
        assert back > 0
    else:
        assert exit_day >= spans[0].start_date >= entry


# ---------------------------------------------------------------- attendance


def statement(planned="140", attended="120", justified="7", unjustified="3", company="0") -> MonthlyAttendance:
    return MonthlyAttendance(*(Decimal(v) for v in (planned, attended, justified, unjustified, company)))


# The regular session (2026-01-05 to 2026-06-26), seen from the end of April 2026.
WITHIN = {"session_start": REGULAR.start_date, "session_end": REGULAR.end_date, "today": date(2026, 4, 30)}


def test_attendance_totals_within_planned_hours():
    check_attendance(statement(attended="130", company="0"), "2026-02", ENTRY, None, **WITHIN)  # 130+7+3 = 140
    assert broken(check_attendance, statement(attended="131"), "2026-02", ENTRY, None, **WITHIN) == "body.attended_hours"
    assert broken(check_attendance, statement(attended="100", company="31"), "2026-02", ENTRY, None, **WITHIN) == "body.attended_hours"


def test_attendance_month_within_the_training():
    check_attendance(statement(), "2026-01", ENTRY, None, **WITHIN)  # entry month
    assert broken(check_attendance, statement(), "2025-12", ENTRY, None, **WITHIN) == "path.month"
    assert broken(check_attendance, statement(), "2026-01", None, None, **WITHIN) == "path.month"
    check_attendance(statement(), "2026-03", ENTRY, date(2026, 3, 2), **WITHIN)  # exit month
    assert broken(check_attendance, statement(), "2026-04", ENTRY, date(2026, 3, 31), **WITHIN) == "path.month"


def test_attendance_month_within_the_session_and_not_in_the_future():
    def reason(month, **overrides):
        with pytest.raises(RuleBroken) as error:
            check_attendance(statement(), month, ENTRY, None, **{**WITHIN, **overrides})
        assert error.value.field == "path.month"
        return error.value.message

    check_attendance(statement(), "2026-04", ENTRY, None, **WITHIN)  # the current month
    assert reason("2026-05") == "the month 2026-05 is in the future (today is 2026-04-30)"
    later = {"today": date(2026, 9, 1)}
    check_attendance(statement(), "2026-06", ENTRY, None, **{**WITHIN, **later})  # the session's last month
    assert reason("2026-07", **later) == "the month 2026-07 is after the session's end (2026-06-26)"
    assert reason("2025-12") == "the month 2025-12 is before the session's start (2026-01-05)"


def test_months_entirely_after_a_day_and_the_reasons_told():
    months = ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert months_after(date(2026, 2, 20), months) == ["2026-03", "2026-04"]
    assert months_after(date(2026, 2, 28), months) == ["2026-03", "2026-04"]  # February's last day
    assert months_after(date(2026, 4, 1), months) == []
    assert exit_void_reason(date(2025, 2, 20), date(2025, 4, 3)) == "exit on 2025-02-20 declared on 2025-04-03"
    assert cancel_void_reason(date(2025, 4, 3)) == "entry cancelled on 2025-04-03"


@given(st.decimals(min_value=0, max_value=200, places=2), st.decimals(min_value=0, max_value=200, places=2))
def test_accepted_statements_never_exceed_planned(planned, attended):
    candidate = MonthlyAttendance(planned, attended, Decimal("0"), Decimal("0"))
    try:
        check_attendance(candidate, "2026-02", ENTRY, None, **WITHIN)
    except RuleBroken:
        assert attended > planned
    else:
        assert candidate.declared_total <= planned


def test_solde_is_realised_hours_times_hourly_price_to_the_cent():
    assert realised_cost(Decimal("120"), Decimal("12.50")) == Decimal("1500.00")
    assert realised_cost(Decimal("10.5"), Decimal("11.111")) == Decimal("116.67")  # 116.6655 half-up


# ---------------------------------------------------------------- late declarations


CAL = WorkingCalendar("FR")


def test_late_declaration_across_a_public_holiday():
    # Wednesday 7 May 2025; Thursday 8 May (Victoire 1945) is a public holiday.
    event = date(2025, 5, 7)
    # Fri 9, Mon 12, Tue 13: three working days -> on time; the holiday does not count.
    assert not CAL.is_late(event, date(2025, 5, 13), 3)
    # Wed 14 is the fourth working day -> late.
    assert CAL.is_late(event, date(2025, 5, 14), 3)
    # Same weekdays a week later, without holiday: Tuesday is already the fourth working day.
    assert CAL.is_late(date(2025, 5, 14), date(2025, 5, 20), 3)


def test_weekends_do_not_count():
    assert CAL.working_days_between(date(2026, 1, 9), date(2026, 1, 12)) == 1  # Fri -> Mon
    assert not CAL.is_late(date(2026, 1, 9), date(2026, 1, 14), 3)  # Mon, Tue, Wed
    assert CAL.is_late(date(2026, 1, 9), date(2026, 1, 15), 3)
    assert not CAL.is_late(date(2026, 1, 9), date(2026, 1, 9), 3)
