"""Every OpenAPI document tells the truth (docs/openapi.md): schemathesis (`st run`, all checks,
every phase) against each service's `/openapi.json` on a running suite, with tokens of each
kind. Bounded in examples (PACTE_CONTRACT_MAX_EXAMPLES, default 12) and seeded, so it runs in
minutes and a failure is reproduced by the same seed.

Zero failures, except the known residuals below, each matched by its check and the problem the
service answered (never by operation alone for our own routes): anything else fails."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pacte_common.auth import OrgKind
from pacte_testing import new_siret, running_suite
from pacte_tools.dev_issuer import request_token
from pacte_tools.suite import Suite

HERE = Path(__file__).resolve().parent
MAX_EXAMPLES = os.environ.get("PACTE_CONTRACT_MAX_EXAMPLES", "12")
SEED = os.environ.get("PACTE_CONTRACT_SEED", "16")
# The organisations whose tokens the run uses, one of each kind.
ORGS = {OrgKind.REGION: "region", OrgKind.PRESCRIBER: "PE-44001", OrgKind.TRAINING_ORG: new_siret(), OrgKind.PAYING_AGENCY: "ASP"}
DOCUMENTS = ["orientation", "sessions", "remuneration", "agora-gateway", "agora-sandbox", "attendance", "france-travail-sandbox", "insights"]
# (check, pattern in the failing case's title and section): schema-valid requests that a rule JSON Schema
# cannot say refuses with a 422 naming the field (docs/openapi.md, "what the schema cannot say").
KNOWN_RESIDUALS = [
    ("ST202", r"end_date must be on or after start_date|'to' must be on or after 'from'"),  # two fields compared
    # the public search: two parameters compared, or a place looked up in the offer itself
    ("ST202", r"'start_to' must be on or after 'start_from'|a radius needs a place to search around|no training place of the offer is known there"),
    ("ST202", r"birth date is in the future|must be at least \d+ years old"),  # compared with today
    # an attendance month compared with today and with the session's and the file's dates
    ("ST202", r"the month \d{4}-\d{2} is (in the future|after the session's end|before the session's start|before the entry|after the exit)"),
    # a check digit (NIR key, SIRET Luhn, IBAN mod 97): the pattern is in the schema, the key is
    # not (the format strategies of the hooks send valid ones; the coverage phase uses the pattern)
    ("ST202", r"NIR control key does not match|SIRET check digit|IBAN check digits are wrong"),
    # AGORA's own content rules (sandbox), answered with its coded 422 as AGORA does
    ("ST202", r'"code":"(dates_out_of_order|cost_mismatch|invalid_siret|invalid_nir)"'),
    # a CSV body is a string to JSON Schema: its grammar and its header line are in the
    # operation's description, and a file that breaks them is refused naming the line or column
    ("ST202", r"not a readable CSV|column missing"),
    # a NUL character in any string or member name, refused before any route runs (PostgreSQL
    # cannot store it): free text and objects open to extra members do not say it in their schema
    ("ST202", r"a NUL character is not allowed"),
    # attendance: an iCalendar body is a string to JSON Schema (its grammar is RFC 5545); a
    # half-day's end compared with its start; a pattern's last day compared with its first;
    # a change or correction of a signed half-day needs a reason only once someone has signed
    ("ST202", r"not an iCalendar file|the file holds no event|each event needs|a half-day starts and ends the same day"),
    ("ST202", r"the first row is the header|unknown columns|missing columns|bad rows: nothing was imported|the file holds no half-day|not a text file"),  # a CSV schedule's content
    ("ST202", r"the end must come after the start|the last day comes before the first|a pattern covers two years"),
    ("ST202", r"a half-day that has signatures is changed with a reason"),
    # France Travail's refusals by code (sandbox), a 422 as its contract says (docs/france-travail.md §5):
    # the world as it is (a person not known, a file's certificates out of order or closed), an
    # identifier's format, and an attendance certificate's data, checked by kind inside the open `data`
    ("ST202", r'"code":"(invalid_identifier|unknown_job_seeker|out_of_order|file_closed)"'),
    ("ST202", r'"code":"invalid_payload","message":"data\.'),
    # the France Travail sandbox's fault injection does what it was asked: 5xx, late answers
    ("ST101", r'"message":"Injected fault'),
    ("ST202", r'"message":"Injected fault'),
    ("ST112", r'"(timeouts_next|latency_ms)": [1-9]'),
]
SECTION = re.compile(r"^_{3,} (.+?) _{3,}$", flags=re.MULTILINE)


def unexpected_failures(output: str) -> list[str]:
    """The failing cases of an `st run` output that no known residual explains."""
    if re.search(r"^=+ ERRORS =+$", output, flags=re.MULTILINE):
        return ["errors (schema or network): see the output"]
    found = []
    heads = list(SECTION.finditer(output))
    for head, following in zip(heads, [*heads[1:], None], strict=False):
        section = head.group(1) + "\n" + output[head.end(): following.start() if following else len(output)]
        for code in re.findall(r"^- (ST\d{3}) ", section, flags=re.MULTILINE):
            if not any(code == known and re.search(pattern, section, flags=re.MULTILINE) for known, pattern in KNOWN_RESIDUALS):
                found.append(f"{head.group(1)}: {code}")
    return found


@pytest.fixture(scope="module")
def contract_suite(tmp_path_factory):
    """A suite of its own (schemathesis fills it with odd data and faults), on the database the
    tests run on."""
    with running_suite(tmp_path_factory.mktemp("contract"), "contract", topic_partitions=1, fast=False) as running:
        yield running


def tokens(suite: Suite, document: str) -> list[str]:
    if document == "agora-sandbox":  # AGORA's own bearer token, not one of ours
        from agora_sandbox.settings import AgoraSandboxSettings

        return [AgoraSandboxSettings().token.get_secret_value()]
    if document == "france-travail-sandbox":  # France Travail's own bearer token
        from france_travail_sandbox.settings import FranceTravailSandboxSettings

        return [FranceTravailSandboxSettings().token.get_secret_value()]
    return [request_token(suite.issuer_settings.issuer_url, kind.value, org, [document]) for kind, org in ORGS.items()]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_openapi_document_matches_what_the_service_does(contract_suite, document, tmp_path):
    report = tmp_path / "junit.xml"
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(HERE / "schemathesis.toml"),
        "run", f"{contract_suite.url(document)}/openapi.json", "--checks", "all",
        "--max-examples", MAX_EXAMPLES, "--seed", SEED, "--workers", "1", "--no-color",
        "--request-timeout", "30", "--report", "junit", "--report-junit-path", str(report),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
        "PACTE_CONTRACT_TOKENS": json.dumps(tokens(contract_suite, document)),
    }
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    (tmp_path / "schemathesis.txt").write_text(output)  # the whole run, when the tail below is not enough
    summary = re.findall(r"^=+ (.*) =+$", output, flags=re.MULTILINE)
    print(f"{document}: {summary[-1] if summary else 'no summary'}")
    unexpected = unexpected_failures(output) if result.returncode else []
    assert not unexpected, f"{unexpected} (whole output: {tmp_path / 'schemathesis.txt'})\n{output[-20000:]}"
    assert result.returncode == 0 or SECTION.search(output), output[-20000:]
