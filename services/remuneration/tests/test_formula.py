"""The monthly formula on cases computed by hand (docs/rules.md §5.6), and its properties.

Default policy figures used below: Region top-ups +15 / +65 / +350 €, tension × 1.5,
transport 20 € × 2 = 40 € a month, 80% of the net minimum wage 30.25 €/day in 2019 (Pacte §III.2; later
years from the net minimum wage in force, domain/rates.py),
advance 75% of the first month's presumed amount.
"""

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from remuneration.domain.formula import (
    Adjustment,
    Attendance,
    Extras,
    Trainee,
    Training,
    advance_amount,
    compute_earned,
    compute_month,
)
from remuneration.domain.formula import (
    ComponentCode as C,
)
from remuneration.domain.ledger import PaidMonth, review_month
from remuneration.domain.money import Interruption, Month, days_in_training
from remuneration.domain.policy import Policy
from remuneration.domain.rates import MissingRate
from remuneration.domain.regime import Regime, RegimeDecision
from remuneration.domain.scales import DEFAULT_SCALES, AgeBand, ScaleVersion

POLICY = Policy()
REGION = RegimeDecision(Regime.REGION, "approved programme, no benefit")
UI = RegimeDecision(Regime.UNEMPLOYMENT_INSURANCE, "on benefit", differential_eligible=True)
FULL = Attendance(D("140"), D("0"))
ENTERED_EARLY = Training(entry_date=date(2019, 1, 7))


def month(text):
    return Month.parse(text)


def region(month_text, trainee, training=ENTERED_EARLY, attendance=FULL, extras=Extras(), policy=POLICY):
    return compute_month(month(month_text), REGION, trainee, training, attendance, policy, extras)


# ---------------------------------------------------------------- scales by age band


@pytest.mark.parametrize(
    ("birth_date", "month_text", "scale_amount"),
    [
        (date(2002, 6, 1), "2019-03", D("130.34")),  # 16 on 2019-03-01: band 16–17
        (date(2000, 3, 15), "2019-03", D("310.39")),  # 18: band 18–20
        (date(1998, 3, 2), "2019-03", D("310.39")),  # 20 (21 on 03-02, after the first day)
        (date(1998, 3, 2), "2019-04", D("339.35")),  # 21 on 2019-04-01: band 21–25
        (date(1980, 1, 1), "2019-03", D("401.09")),  # 39: band 26+
    ],
)
def test_2019_scale_by_age_band_on_the_first_day_of_the_month(birth_date, month_text, scale_amount):
    statement = region(month_text, Trainee(birth_date=birth_date))
    assert statement.scale_code == "1988"
    assert statement.component(C.PUBLIC_REMUNERATION) == scale_amount
    assert statement.component(C.REGION_TOP_UP) == D("15.00")  # registered job seeker
    assert statement.total == scale_amount + D("15.00")


def test_2021_scale_applies_from_may_2021_and_the_old_one_before():
    trainee = Trainee(birth_date=date(1998, 6, 10))  # 22 in April and May 2021
    april = region("2021-04", trainee)
    may = region("2021-05", trainee)
    assert (april.scale_code, april.component(C.PUBLIC_REMUNERATION), april.total) == ("1988", D("339.35"), D("354.35"))
    assert (may.scale_code, may.component(C.PUBLIC_REMUNERATION), may.total) == ("2021-05", D("500.00"), D("515.00"))


def test_age_is_taken_on_the_first_day_even_when_the_birthday_falls_in_the_month():
    may = region("2021-05", Trainee(birth_date=date(2003, 5, 15)))  # 17 on 2021-05-01, 18 on the 15th
    assert may.component(C.PUBLIC_REMUNERATION) == D("200.00")


def test_single_parent_under_26_in_2021_gets_685_and_the_350_top_up():
    june = region("2021-06", Trainee(birth_date=date(2001, 1, 1), single_parent=True))  # 20
    # 685 (single parent, whatever the age) instead of 500; +350 beats +15
    assert june.component(C.PUBLIC_REMUNERATION) == D("685.00")
    assert june.component(C.REGION_TOP_UP) == D("350.00")
    assert june.total == D("1035.00")


def test_prior_work_record_before_2021_gets_652_02():
    statement = region("2019-03", Trainee(birth_date=date(1995, 5, 5), prior_work_record=True))  # 23: band 339.35
    assert statement.component(C.PUBLIC_REMUNERATION) == D("652.02")
    assert statement.total == D("667.02")


def test_prior_work_record_does_not_exist_in_the_2021_scale():
    statement = region("2021-06", Trainee(birth_date=date(1995, 5, 5), prior_work_record=True))  # 26
    assert statement.component(C.PUBLIC_REMUNERATION) == D("685.00")


def test_tension_sector_adds_half_the_scale_not_the_top_up():
    training = Training(entry_date=date(2021, 1, 4), tension_sector=True)
    june = region("2021-06", Trainee(birth_date=date(1991, 2, 2)), training)  # 30: 685 × 1.5 = 1027.50
    assert june.component(C.PUBLIC_REMUNERATION) == D("1027.50")
    assert june.total == D("1042.50")


def test_first_time_job_seeker_top_up_is_the_most_favourable():
    june = region("2021-06", Trainee(birth_date=date(2002, 1, 1), first_time_jobseeker=True))  # 19: 500
    assert june.component(C.REGION_TOP_UP) == D("65.00")
    assert june.total == D("565.00")


def test_partial_first_month_counts_entry_day_to_month_end():
    training = Training(entry_date=date(2021, 6, 14))  # 14..30 June: 17 days of 30
    june = region("2021-06", Trainee(birth_date=date(1991, 2, 2), transport_allowance=True), training)
    assert june.inputs["days_in_training"] == "17"
    assert june.component(C.PUBLIC_REMUNERATION) == D("388.17")  # 685 × 17/30 = 388.1666…
    assert june.component(C.REGION_TOP_UP) == D("8.50")  # 15 × 17/30
    assert june.component(C.TRANSPORT_ALLOWANCE) == D("22.67")  # 40 × 17/30 = 22.666…
    assert june.total == D("419.34")


def test_exit_day_is_included():
    training = Training(entry_date=date(2021, 1, 4), exit_date=date(2021, 6, 10))  # 1..10 June
    june = region("2021-06", Trainee(birth_date=date(1991, 2, 2)), training)
    assert june.component(C.PUBLIC_REMUNERATION) == D("228.33")  # 685 × 10/30 = 228.333…
    assert june.component(C.REGION_TOP_UP) == D("5.00")


def test_interruption_inside_a_month_removes_first_day_to_the_day_before_resumption():
    training = Training(
        entry_date=date(2021, 6, 1),
        interruptions=(Interruption(date(2021, 7, 5), date(2021, 7, 12)),),  # 5..11 July: 7 days
    )
    july = region("2021-07", Trainee(birth_date=date(1991, 2, 2)), training)
    assert july.inputs["days_in_training"] == "24"
    assert july.component(C.PUBLIC_REMUNERATION) == D("530.32")  # 685 × 24/31 = 530.3225…
    assert july.component(C.REGION_TOP_UP) == D("11.61")  # 15 × 24/31 = 11.6129…
    assert july.total == D("541.93")


def test_open_interruption_runs_to_the_end_of_the_month():
    training = Training(entry_date=date(2021, 6, 1), interruptions=(Interruption(date(2021, 7, 21)),))
    july = region("2021-07", Trainee(birth_date=date(1991, 2, 2)), training)
    assert july.inputs["days_in_training"] == "20"


def test_part_time_uses_weekly_hours_over_35():
    training = Training(entry_date=date(2021, 1, 4), weekly_hours=D("21"))  # 21/35 = 0.6
    june = region("2021-06", Trainee(birth_date=date(1991, 2, 2)), training)
    assert june.component(C.PUBLIC_REMUNERATION) == D("411.00")
    assert june.component(C.REGION_TOP_UP) == D("9.00")


def test_part_time_factor_is_capped_at_one():
    training = Training(entry_date=date(2021, 1, 4), weekly_hours=D("39"))
    assert region("2021-06", Trainee(birth_date=date(1991, 2, 2)), training).total == D("700.00")


def test_unjustified_absences_reduce_in_proportion_of_planned_hours():
    june = region("2021-06", Trainee(birth_date=date(1991, 2, 2)), attendance=Attendance(D("140"), D("14")))
    assert june.component(C.PUBLIC_REMUNERATION) == D("616.50")  # 685 × (1 − 14/140)
    assert june.component(C.REGION_TOP_UP) == D("13.50")
    assert june.total == D("630.00")


def test_differential_top_up_brings_benefit_to_80_percent_of_minimum_wage():
    trainee = Trainee(birth_date=date(1985, 1, 1), daily_benefit=D("20.81"))
    march = compute_month(month("2019-03"), UI, trainee, ENTERED_EARLY, FULL, POLICY)
    assert march.component(C.DIFFERENTIAL_TOP_UP) == D("292.64")  # (30.25 − 20.81) × 31
    assert march.component(C.PUBLIC_REMUNERATION) == D("0")
    assert march.total == D("292.64")


def test_differential_is_reduced_by_unjustified_absences_and_never_negative():
    absent = compute_month(month("2019-03"), UI, Trainee(birth_date=date(1985, 1, 1), daily_benefit=D("20.81")),
                           ENTERED_EARLY, Attendance(D("150"), D("15")), POLICY)
    assert absent.component(C.DIFFERENTIAL_TOP_UP) == D("263.38")  # 292.64 × 0.9 = 263.376
    rich = compute_month(month("2019-03"), UI, Trainee(birth_date=date(1985, 1, 1), daily_benefit=D("41.00")),
                         ENTERED_EARLY, FULL, POLICY)
    assert rich.component(C.DIFFERENTIAL_TOP_UP) == D("0.00")


def test_after_benefit_rights_end_the_differential_completes_the_relay_allowance():
    trainee = Trainee(birth_date=date(1985, 1, 1), daily_benefit=D("20.81"), benefit_end_date=date(2019, 3, 10),
                      relay_daily_amount=D("17.00"))
    march = compute_month(month("2019-03"), UI, trainee, ENTERED_EARLY, FULL, POLICY)
    # 1–10 March: (30.25 − 20.81) × 10 = 94.40; 11–31 March: (30.25 − 17.00 relay) × 21 = 278.25
    assert march.component(C.DIFFERENTIAL_TOP_UP) == D("372.65")
    assert "relay allowance 17.00 €" in march.components[2].explanation
    no_relay = compute_month(month("2019-03"), UI, replace(trainee, relay_daily_amount=D("0")), ENTERED_EARLY, FULL,
                             POLICY)
    assert no_relay.component(C.DIFFERENTIAL_TOP_UP) == D("729.65")  # 94.40 + 30.25 × 21: nothing takes over


def test_days_after_the_benefit_ended_wait_for_the_relay_amount_instead_of_guessing_it():
    trainee = Trainee(birth_date=date(1985, 1, 1), daily_benefit=D("20.81"), benefit_end_date=date(2019, 3, 10))
    march = compute_month(month("2019-03"), UI, trainee, ENTERED_EARLY, FULL, POLICY)
    assert march.status == "waiting" and march.total == D("0")
    assert "relay allowance" in march.waiting_reason
    february = compute_month(month("2019-02"), UI, trainee, ENTERED_EARLY, FULL, POLICY)  # benefit still running
    assert february.status == "computed" and february.component(C.DIFFERENTIAL_TOP_UP) == D("264.32")  # 9.44 × 28


def test_the_daily_floor_is_taken_from_the_minimum_wage_in_force_that_month():
    trainee = Trainee(birth_date=date(1985, 1, 1), daily_benefit=D("20.81"))
    june_2020 = compute_month(month("2020-06"), UI, trainee, ENTERED_EARLY, FULL, POLICY)
    # 0.80 × 1 219.00 € net × 12 / 365 = 32.06 € a day; (32.06 − 20.81) × 30 = 337.50
    assert june_2020.inputs["daily_floor"] == "32.06"
    assert june_2020.component(C.DIFFERENTIAL_TOP_UP) == D("337.50")
    assert "décret n° 2019-1387" in june_2020.components[2].explanation
    november_2021 = compute_month(month("2021-11"), UI, trainee, ENTERED_EARLY, FULL, POLICY)
    assert november_2021.inputs["daily_floor"] == "33.10"  # 0.80 × 1 258.58 × 12 / 365 = 33.1025 (revalued 2021-10-01)


@pytest.mark.parametrize(
    ("decision", "trainee", "month_text", "rate"),
    [
        (UI, Trainee(birth_date=date(1985, 1, 1), daily_benefit=D("20.81")), "2018-06", "minimum_wage"),
        (UI, Trainee(birth_date=date(1985, 1, 1), daily_benefit=D("20.81")), "2030-01", "minimum_wage"),
        (REGION, Trainee(birth_date=date(1985, 1, 1)), "2018-06", "region_top_ups"),
        (UI, Trainee(birth_date=date(1985, 1, 1), daily_benefit=D("20.81"), transport_allowance=True), "2018-06",
         "minimum_wage"),
    ],
)
def test_a_month_without_its_rate_is_refused_by_name_never_computed_with_another_years(decision, trainee, month_text,
                                                                                         rate):
    training = Training(entry_date=date(2017, 1, 2))
    with pytest.raises(MissingRate) as refused:
        compute_month(month(month_text), decision, trainee, training, FULL, POLICY)
    assert refused.value.rate == rate and refused.value.day == month(month_text).first_day


def test_a_scale_version_ends_where_its_text_says_and_a_gap_is_refused():
    ended = ScaleVersion(code="old", label="ended", effective_from=date(2019, 1, 1), effective_until=date(2019, 12, 31),
                         age_bands=(AgeBand(16, None, D("400.00")),), source="test")
    policy = Policy(scales=(ended,))
    assert region("2019-12", Trainee(birth_date=date(1991, 2, 2)), policy=policy).component(C.PUBLIC_REMUNERATION) == D("400.00")
    with pytest.raises(MissingRate) as refused:
        region("2020-01", Trainee(birth_date=date(1991, 2, 2)), policy=policy)
    assert refused.value.rate == "scale"


def test_disabled_worker_in_2021_is_paid_on_prior_salary_at_least_685():
    june = region("2021-06", Trainee(birth_date=date(1990, 1, 1), disabled_worker=True, prior_monthly_salary=D("1200")))
    assert june.component(C.PUBLIC_REMUNERATION) == D("1200.00")
    low = region("2021-06", Trainee(birth_date=date(2000, 1, 1), disabled_worker=True, prior_monthly_salary=D("300")))
    assert low.component(C.PUBLIC_REMUNERATION) == D("685.00")


def test_advance_is_75_percent_of_the_presumed_first_month_and_recovered_the_month_after():
    trainee = Trainee(birth_date=date(1991, 2, 2))
    training = Training(entry_date=date(2021, 6, 14))  # presumed June: 388.17 + 8.50 = 396.67
    advance, why = advance_amount(month("2021-06"), REGION, trainee, training, POLICY)
    assert advance == D("297.50")  # 396.67 × 0.75 = 297.5025
    june = region("2021-06", trainee, training, extras=Extras(advance_payment=advance, advance_explanation=why))
    assert june.component(C.ADVANCE) == D("297.50")
    assert june.component(C.ADVANCE_RECOVERY) == D("0")  # never in the month it is paid
    assert june.total == D("694.17")
    assert june.advance_outstanding_after == D("297.50")
    july = region("2021-07", trainee, training, extras=Extras(advance_outstanding=june.advance_outstanding_after))
    assert july.component(C.ADVANCE_RECOVERY) == D("-297.50")
    assert july.total == D("402.50")  # 685 + 15 − 297.50
    assert july.advance_outstanding_after == D("0")


def test_overpayment_from_a_correction_is_recovered_next_month():
    trainee = Trainee(birth_date=date(1991, 2, 2))
    corrected_june = compute_earned(month("2021-06"), REGION, trainee, ENTERED_EARLY, Attendance(D("140"), D("14")), POLICY)
    adjustment = review_month(month("2021-06"), corrected_june, PaidMonth(amount=D("700.00"), inputs={}))
    assert adjustment.delta == D("-70.00")
    july = region("2021-07", trainee, extras=Extras(adjustments=(adjustment,)))
    assert july.component(C.OVERPAYMENT_RECOVERY) == D("-70.00")
    assert july.component(C.ADJUSTMENT) == D("0.00")
    assert july.total == D("630.00")


def test_what_cannot_be_recovered_carries_over_and_the_total_is_never_negative():
    trainee = Trainee(birth_date=date(1991, 2, 2))
    july = region("2021-07", trainee, extras=Extras(overpayment_outstanding=D("1000.00")))
    assert july.component(C.OVERPAYMENT_RECOVERY) == D("-700.00")
    assert july.total == D("0.00")
    assert july.overpayment_outstanding_after == D("300.00")
    august = region("2021-08", trainee, extras=Extras(overpayment_outstanding=july.overpayment_outstanding_after))
    assert august.total == D("400.00")


def test_a_late_or_raised_month_is_paid_as_a_positive_adjustment():
    trainee = Trainee(birth_date=date(1991, 2, 2))
    june = compute_earned(month("2021-06"), REGION, trainee, ENTERED_EARLY, FULL, POLICY)
    adjustment = review_month(month("2021-06"), june, paid=None)
    july = region("2021-07", trainee, extras=Extras(adjustments=(adjustment,)))
    assert july.component(C.ADJUSTMENT) == D("700.00")
    assert july.total == D("1400.00")


def test_emergency_aid_is_paid_on_top_and_never_recovered_from():
    july = region("2021-07", Trainee(birth_date=date(1991, 2, 2)),
                  extras=Extras(emergency_aids=(D("250.00"),), overpayment_outstanding=D("5000")))
    assert july.component(C.EMERGENCY_AID) == D("250.00")
    assert july.total == D("250.00")


def test_a_month_without_attendance_waits():
    july = region("2021-07", Trainee(birth_date=date(1991, 2, 2)), attendance=None)
    assert july.status == "waiting"
    assert july.total == D("0") and july.earned_amount == D("0")
    assert "attendance" in july.waiting_reason


def test_a_new_scale_version_is_data_not_code():
    future = ScaleVersion(code="2030-01", label="test scale", effective_from=date(2030, 1, 1),
                          age_bands=(AgeBand(16, None, D("900.00")),))
    policy = Policy(scales=DEFAULT_SCALES + (future,))
    statement = region("2030-02", Trainee(birth_date=date(1991, 2, 2)), policy=policy)
    assert (statement.scale_code, statement.component(C.PUBLIC_REMUNERATION)) == ("2030-01", D("900.00"))


def test_every_component_explains_itself_with_its_figures():
    june = region("2021-06", Trainee(birth_date=date(1991, 2, 2)), attendance=Attendance(D("140"), D("14")))
    explanation = june.components[0].explanation
    for figure in ("2021-05", "685.00", "30 days in training out of 30", "14 h unjustified", "140 h planned", "616.50"):
        assert figure in explanation


# ---------------------------------------------------------------- properties

money = st.decimals(min_value=0, max_value=3000, places=2)
days = st.dates(min_value=date(2019, 1, 1), max_value=date(2024, 12, 31))  # the default rates cover 2019–2025


@st.composite
def cases(draw):
    entry = draw(days)
    month_ = Month.of(draw(st.dates(min_value=entry, max_value=date(2025, 6, 30))))
    exit_ = draw(st.none() | st.dates(min_value=entry, max_value=date(2025, 12, 31)))
    trainee = Trainee(
        birth_date=draw(st.dates(min_value=date(1955, 1, 1), max_value=date(2006, 1, 1))),
        single_parent=draw(st.booleans()), first_time_jobseeker=draw(st.booleans()),
        registered_jobseeker=draw(st.booleans()), prior_work_record=draw(st.booleans()),
        disabled_worker=draw(st.booleans()), prior_monthly_salary=draw(st.none() | money),
        daily_benefit=draw(st.none() | st.decimals(min_value=0, max_value=80, places=2)),
        transport_allowance=draw(st.booleans()),
        benefit_end_date=draw(st.none() | days),
        relay_daily_amount=draw(st.none() | st.decimals(min_value=0, max_value=40, places=2)),
    )
    interruptions = ()
    if draw(st.booleans()):
        start = draw(st.dates(min_value=entry, max_value=date(2025, 6, 30)))
        interruptions = (Interruption(start, draw(st.none() | st.dates(min_value=start, max_value=date(2025, 12, 31)))),)
    training = Training(entry_date=entry, exit_date=exit_, interruptions=interruptions,
                        weekly_hours=draw(st.none() | st.decimals(min_value=1, max_value=45, places=1)),
                        tension_sector=draw(st.booleans()))
    decision = draw(st.sampled_from([REGION, UI, RegimeDecision(Regime.UNEMPLOYMENT_INSURANCE, "x")]))
    extras = Extras(
        advance_outstanding=draw(money), overpayment_outstanding=draw(money),
        adjustments=tuple(Adjustment("2018-01", d, "x") for d in draw(
            st.lists(st.decimals(min_value=-2000, max_value=2000, places=2), max_size=3))),
        emergency_aids=tuple(draw(st.lists(st.just(D("250.00")), max_size=1))),
        advance_payment=draw(st.just(D("0")) | money),
    )
    planned = draw(st.decimals(min_value=0, max_value=200, places=2))
    return month_, decision, trainee, training, planned, extras


@settings(max_examples=300, deadline=None)
@given(cases(), st.data())
def test_never_negative_and_components_sum_to_the_total(case, data):
    month_, decision, trainee, training, planned, extras = case
    unjustified = data.draw(st.decimals(min_value=0, max_value=planned, places=2))
    statement = compute_month(month_, decision, trainee, training, Attendance(planned, unjustified), POLICY, extras)
    assert statement.total >= 0
    assert statement.total == sum(c.amount for c in statement.components)
    assert all(c.amount == c.amount.quantize(D("0.01")) for c in statement.components)
    assert statement.advance_outstanding_after >= 0 and statement.overpayment_outstanding_after >= 0


@settings(max_examples=300, deadline=None)
@given(cases(), st.data())
def test_more_attended_hours_never_lower_the_amount(case, data):
    month_, decision, trainee, training, planned, extras = case
    more_absent = data.draw(st.decimals(min_value=0, max_value=planned, places=2))
    less_absent = data.draw(st.decimals(min_value=0, max_value=more_absent, places=2))
    worse = compute_month(month_, decision, trainee, training, Attendance(planned, more_absent), POLICY, extras)
    better = compute_month(month_, decision, trainee, training, Attendance(planned, less_absent), POLICY, extras)
    assert better.total >= worse.total
    assert better.earned_amount >= worse.earned_amount


_DAY0 = date(2021, 1, 1)
_days = st.integers(0, 160).map(lambda n: _DAY0 + timedelta(n))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.integers(2, 5), _days, st.none() | _days,
       st.lists(st.tuples(_days, st.none() | st.integers(-3, 40)), max_size=3), st.none() | _days)
def test_days_in_training_are_counted_as_the_calendar_says(number, entry, exit_date, stops, benefit_end):
    """The arithmetic count (spans of days) is the day-by-day definition: entry to exit both included, in the
    month, less each interruption's days from its first to the day before its resumption (to the month's end
    while not resumed)."""
    the_month = Month(2021, number)
    interruptions = tuple(Interruption(start, start + timedelta(length) if length is not None else None)
                          for start, length in stops)
    expected = set()
    day = the_month.first_day
    while day <= the_month.last_day:
        in_training = entry <= day and (exit_date is None or day <= exit_date)
        stopped = any(i.start_date <= day and (i.resumption_date is None or day < i.resumption_date)
                      for i in interruptions)
        if in_training and not stopped:
            expected.add(day)
        day += timedelta(1)
    days = days_in_training(the_month, entry, exit_date, interruptions)
    assert days.dates() == expected
    assert days.count == len(expected) and bool(days) == bool(expected)
    assert days.count_until(benefit_end) == sum(1 for d in expected if benefit_end is None or d <= benefit_end)
    if benefit_end is not None:
        assert days.any_after(benefit_end) == any(d > benefit_end for d in expected)
