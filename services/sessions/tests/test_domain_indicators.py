"""Each indicator against a small dataset whose expected values are worked out by hand."""

import uuid
from datetime import date
from decimal import Decimal

import pytest
from sessions.domain.indicators import (
    FileFacts,
    IndicatorPolicy,
    Period,
    SessionFacts,
    compute,
    months_before,
)

S1, S2, S3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()  # VISA (10 places), PRÉPA (5), a 2025 session (8)
SESSIONS = [
    SessionFacts(S1, 10, date(2026, 1, 5), date(2026, 6, 26)),
    SessionFacts(S2, 5, date(2026, 1, 5), date(2026, 3, 27)),
    SessionFacts(S3, 8, date(2025, 1, 6), date(2025, 6, 30)),
]
P3 = uuid.uuid4()  # goes from PRÉPA to VISA


def facts(n, sex, born, level, registered, disabled, qpv, pillar, session, status, entry, exit=None, kind=None,
          dropout=None, cert=None, realised="0", programmed="540", person=None):
    return FileFacts(
        dossier_id=uuid.uuid4(), person_id=person or uuid.uuid4(), session_id=session, sex=sex,
        birth_date=date.fromisoformat(born), education_level=level,
        jobseeker_registration_date=date.fromisoformat(registered) if registered else None,
        disabled_worker=disabled, qpv=qpv, pillar=pillar, status=status,
        entry_date=date.fromisoformat(entry) if entry else None, exit_date=date.fromisoformat(exit) if exit else None,
        exit_kind=kind, dropout_reason=dropout, certification_result=cert,
        realised_hours=Decimal(realised), programmed_hours=Decimal(programmed),
    )


FILES = [
    # 1: F 35 y, level V, registered 16 months before entry, disabled, QPV; VISA completed, certified
    facts(1, "F", "1990-04-12", "v", "2024-09-01", True, True, "visa", S1, "exited", "2026-01-05", "2026-06-26", "completed", None, "obtained", "500"),
    # 2: M 56 y (senior), level III+, 7 months registered; VISA dropout for a job, certification failed
    facts(2, "M", "1970-01-10", "iii_and_above", "2025-06-01", False, False, "visa", S1, "exited", "2026-01-05", "2026-03-13", "dropout", "employment", "failed", "200"),
    # 3: F 23 y, infra V, QPV; PRÉPA completed, then VISA (file 5)
    facts(3, "F", "2002-05-01", "below_v", None, False, True, "prepa", S2, "exited", "2026-01-05", "2026-03-27", "completed", None, None, "300", "300", person=P3),
    # 4: M 24 y, level IV, registered exactly 12 months before entry, disabled; VISA in training
    facts(4, "M", "2001-02-01", "iv", "2025-02-02", True, False, "visa", S1, "in_training", "2026-02-02"),
    # 5: the same person as 3, entering VISA after the PRÉPA exit
    facts(5, "F", "2002-05-01", "below_v", None, False, True, "visa", S1, "in_training", "2026-04-06", person=P3),
    # 6: M 40 y, level V, long-term; PRÉPA dropout (personal), no VISA after
    facts(6, "M", "1985-06-15", "v", "2023-01-01", False, False, "prepa", S2, "exited", "2026-01-05", "2026-02-20", "dropout", "personal", None, "100", "300"),
    # 7: cancelled (entry declared by mistake): never counted
    facts(7, "F", "1990-01-01", "v", None, True, True, "visa", S1, "cancelled", "2026-01-05"),
    # 8: enrolled, not entered: no entry, no place filled
    facts(8, "F", "1990-01-01", "v", None, True, True, "visa", S1, "enrolled", None),
    # 9: entered and left in 2025, outside the period
    facts(9, "F", "1995-01-01", "v", None, True, True, "visa", S3, "exited", "2025-02-03", "2025-06-30", "completed", None, "obtained", "400"),
]
YEAR_2026 = Period(date(2026, 1, 1), date(2026, 12, 31))


def ratio(result, name):
    value = result.values[name]
    return value.numerator, value.denominator, value.value


@pytest.fixture(scope="module")
def year():
    return compute(FILES, SESSIONS, YEAR_2026, IndicatorPolicy())


def test_access_of_target_publics(year):
    everyone = year["all"]
    assert everyone.entries == 6  # files 1-6
    assert ratio(everyone, "disabled_workers_share") == (2, 6, Decimal("0.3333"))  # 1, 4
    assert everyone.values["disabled_workers_share"].meets_target is True  # 33% >= 15%
    assert ratio(everyone, "low_qualified_share") == (5, 6, Decimal("0.8333"))  # all but 2 (level III+)
    assert ratio(everyone, "long_term_jobseekers_share") == (3, 6, Decimal("0.5000"))  # 1, 4 (exactly 12 months), 6
    assert ratio(everyone, "seniors_share") == (1, 6, Decimal("0.1667"))  # 2
    assert ratio(everyone, "under_26_share") == (3, 6, Decimal("0.5000"))  # 3, 4, 5
    assert ratio(everyone, "qpv_share") == (3, 6, Decimal("0.5000"))  # 1, 3, 5


def test_delivery(year):
    everyone = year["all"]
    # S1 (10) and S2 (5) overlap 2026; entered: S1 files 1, 2, 4, 5; S2 files 3, 6
    assert ratio(everyone, "places_filled_rate") == (6, 15, Decimal("0.4000"))
    # exits in 2026: 1, 2, 3, 6; dropouts 2 (for a job) and 6
    assert ratio(everyone, "dropout_rate") == (2, 4, Decimal("0.5000"))
    assert ratio(everyone, "dropout_for_job_rate") == (1, 4, Decimal("0.2500"))
    # durations 173 + 68 + 82 + 47 = 370 days over 4 exits
    duration = everyone.values["average_realised_duration_days"]
    assert (duration.total, duration.count, duration.value) == (Decimal("370"), 4, Decimal("92.50"))
    assert everyone.values["average_realised_hours"].value == Decimal("275.00")  # 1100 / 4
    assert ratio(everyone, "realised_hours_rate") == (Decimal("1100"), Decimal("1680"), Decimal("0.6548"))


def test_results(year):
    everyone = year["all"]
    assert ratio(everyone, "visa_certification_success_rate") == (1, 2, Decimal("0.5000"))  # 1 obtained, 2 failed
    assert ratio(everyone, "visa_access_after_prepa_rate") == (1, 2, Decimal("0.5000"))  # person of 3/5 yes, 6 no


def test_breakdown_by_sex(year):
    women, men = year["F"], year["M"]
    assert (women.entries, men.entries) == (3, 3)  # 1, 3, 5 / 2, 4, 6
    assert ratio(women, "disabled_workers_share") == (1, 3, Decimal("0.3333"))
    assert ratio(men, "seniors_share") == (1, 3, Decimal("0.3333"))
    assert ratio(women, "places_filled_rate") == (3, 15, Decimal("0.2000"))
    assert ratio(women, "dropout_rate") == (0, 2, Decimal("0.0000"))
    assert ratio(men, "dropout_rate") == (2, 2, Decimal("1.0000"))
    assert ratio(men, "dropout_for_job_rate") == (1, 2, Decimal("0.5000"))
    assert ratio(women, "visa_access_after_prepa_rate") == (1, 1, Decimal("1.0000"))
    assert ratio(men, "visa_access_after_prepa_rate") == (0, 1, Decimal("0.0000"))


def test_period_filter():
    january = compute(FILES, SESSIONS, Period(date(2026, 1, 1), date(2026, 1, 31)), IndicatorPolicy())["all"]
    assert january.entries == 4  # 1, 2, 3, 6 entered on 5 January
    assert ratio(january, "dropout_rate") == (0, 0, None)  # nobody left in January
    assert january.values["average_realised_duration_days"].value is None
    everything = compute(FILES, SESSIONS, Period(), IndicatorPolicy())["all"]
    assert everything.entries == 7  # and file 9 of 2025
    assert ratio(everything, "places_filled_rate") == (7, 23, Decimal("0.3043"))


def test_policy_values_are_settings():
    stricter = compute(FILES, SESSIONS, YEAR_2026, IndicatorPolicy(disabled_target=Decimal("0.40"), senior_age=45))["all"]
    assert stricter.values["disabled_workers_share"].meets_target is False
    assert ratio(stricter, "seniors_share") == (1, 6, Decimal("0.1667"))  # 2 is 56; 6 is 40


def test_months_before_clamps_to_month_end():
    assert months_before(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert months_before(date(2026, 2, 2), 12) == date(2025, 2, 2)
