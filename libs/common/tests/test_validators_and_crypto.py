"""NIR, SIRET and IBAN checks (property tests on the keys), encryption at rest, log scrubbing."""

from __future__ import annotations

import logging
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pacte_common.crypto import DecryptionError, FieldCipher, LookupHasher, new_key
from pacte_common.logs import install_redaction
from pacte_common.validators import (
    mask_iban,
    mask_nir,
    nir_for_agora,
    nir_key,
    validate_iban,
    validate_nir,
    validate_siret,
)

# A real-shaped NIR: man born in May 1985 in Loire-Atlantique (44), commune 109, order 123;
# key worked out by hand: 1850544109123 mod 97 = 83, 97 − 83 = 14.
NIR_BODY = "1850544109123"
VALID_NIR = "185054410912314"
VALID_IBAN = "FR7630006000011234567890189"


def test_known_nir_is_valid_and_normalised():
    assert nir_key(NIR_BODY) == 14
    assert validate_nir(" ".join([VALID_NIR[:1], VALID_NIR[1:3], VALID_NIR[3:5], VALID_NIR[5:]])) == VALID_NIR
    assert nir_for_agora(VALID_NIR) == NIR_BODY
    assert mask_nir(VALID_NIR).startswith("1") and "0544109" not in mask_nir(VALID_NIR)


def test_corsican_nir_uses_19_and_18_for_the_key():
    body_2a = "285072A004012"
    key = 97 - int(body_2a.replace("2A", "19")) % 97
    assert validate_nir(body_2a + f"{key:02d}") == body_2a + f"{key:02d}"
    body_2b = "185072B004012"
    key_b = 97 - int(body_2b.replace("2B", "18")) % 97
    assert validate_nir(body_2b + f"{key_b:02d}")


@pytest.mark.parametrize(
    "value, message",
    [
        (VALID_NIR[:-2] + f"{(nir_key(NIR_BODY) % 97) + 1:02d}", "key"),
        ("5850544109123" + "00", "15 characters"),
        ("1851344109123" + f"{nir_key('1851344109123'):02d}", "month"),
        ("18505441091", "15 characters"),
    ],
)
def test_invalid_nir_is_refused_with_a_reason(value, message):
    with pytest.raises(ValueError, match=message):
        validate_nir(value)


nir_bodies = st.builds(
    lambda sex, year, month, dept, commune, order: f"{sex}{year:02d}{month:02d}{dept}{commune:03d}{order:03d}",
    st.sampled_from("1278"),
    st.integers(0, 99),
    st.one_of(st.integers(1, 12), st.integers(20, 42), st.integers(50, 99)),
    st.one_of(st.integers(1, 95).map(lambda d: f"{d:02d}"), st.sampled_from(["2A", "2B"])),
    st.integers(1, 999),
    st.integers(1, 999),
)


@given(nir_bodies)
def test_every_nir_with_its_computed_key_is_valid_and_any_other_key_is_not(body):
    key = nir_key(body)
    assert validate_nir(f"{body}{key:02d}") == f"{body}{key:02d}"
    wrong = (key % 97) + 1
    with pytest.raises(ValueError):
        validate_nir(f"{body}{wrong:02d}")


def test_siret_luhn():
    assert validate_siret("732 829 320 00074") == "73282932000074"
    with pytest.raises(ValueError, match="Luhn"):
        validate_siret("73282932000075")
    with pytest.raises(ValueError, match="14 digits"):
        validate_siret("7328293200007")


def _with_check_digits(country: str, bban: str) -> str:
    number = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(number) % 97:02d}{bban}"


@given(st.sampled_from(["FR", "DE", "ES", "IT"]), st.text(alphabet=string.digits + string.ascii_uppercase, min_size=11, max_size=30))
def test_iban_with_computed_check_digits_is_valid_and_a_changed_digit_is_not(country, bban):
    iban = _with_check_digits(country, bban)
    assert validate_iban(iban) == iban
    changed = iban[:4] + ("1" if iban[4] != "1" else "2") + iban[5:]
    with pytest.raises(ValueError):
        validate_iban(changed)


def test_known_iban_and_mask():
    assert validate_iban("fr76 3000 6000 0112 3456 7890 189") == VALID_IBAN
    assert mask_iban(VALID_IBAN) == "FR76" + "*" * 19 + "0189"


def test_encryption_round_trip_rotation_and_tamper():
    old_key, new = new_key(), new_key()
    cipher = FieldCipher({"k1": old_key}, "k1")
    sealed = cipher.encrypt(VALID_NIR, context="nir")
    assert VALID_NIR not in sealed and cipher.decrypt(sealed, context="nir") == VALID_NIR
    rotated_cipher = FieldCipher({"k1": old_key, "k2": new}, "k2")
    rotated = rotated_cipher.rotate(sealed, context="nir")
    assert rotated_cipher.key_id_of(rotated) == "k2" and rotated_cipher.decrypt(rotated, context="nir") == VALID_NIR
    with pytest.raises(DecryptionError):
        cipher.decrypt(sealed, context="iban")  # bound to its context
    with pytest.raises(DecryptionError):
        cipher.decrypt(sealed[:-4] + "AAAA", context="nir")


def test_bytes_encryption_round_trip_rotation_and_tamper():
    old_key, new = new_key(), new_key()
    cipher = FieldCipher({"k1": old_key}, "k1")
    data = f'{{"nir": "{VALID_NIR}"}}\n'.encode() + bytes(range(256))  # any bytes: a chunk may cut a character
    sealed = cipher.encrypt_bytes(data, context="chunk:0")
    assert VALID_NIR.encode() not in sealed and cipher.decrypt_bytes(sealed, context="chunk:0") == data
    assert sealed.startswith(b"v1:k1:")
    rotated = FieldCipher({"k1": old_key, "k2": new}, "k2")
    assert rotated.decrypt_bytes(sealed, context="chunk:0") == data  # old key still configured
    with pytest.raises(DecryptionError):
        cipher.decrypt_bytes(sealed, context="chunk:1")  # bound to its context (its place)
    with pytest.raises(DecryptionError):
        cipher.decrypt_bytes(sealed[:-4] + b"AAAA", context="chunk:0")
    with pytest.raises(DecryptionError):
        FieldCipher({"k2": new}, "k2").decrypt_bytes(sealed, context="chunk:0")


def test_lookup_hash_is_keyed_and_normalised():
    assert LookupHasher("a").hash(" dupont ", "1990-01-01") == LookupHasher("a").hash("DUPONT", "1990-01-01")
    assert LookupHasher("a").hash(VALID_NIR) != LookupHasher("b").hash(VALID_NIR)


def test_no_nir_or_iban_reaches_captured_logs(caplog):
    install_redaction()
    logger = logging.getLogger("pacte.test")
    with caplog.at_level(logging.INFO):
        logger.info("person %s pays to %s", VALID_NIR, "FR76 3000 6000 0112 3456 7890 189")
        logger.warning(f"inline {VALID_NIR}", extra={"iban": VALID_IBAN, "payload": {"person": {"nir": VALID_NIR}}})
        try:
            raise ValueError(f"bad nir {VALID_NIR}")
        except ValueError:
            logger.exception("failed")
    text = caplog.text + " ".join(str(vars(r)) for r in caplog.records)
    assert VALID_NIR not in text and VALID_IBAN not in text and "3000 6000 0112" not in text
    assert "[NIR]" in caplog.text and "[IBAN]" in caplog.text


def test_scrubbing_leaves_ids_alone():
    from pacte_common.logs import redact

    uuid_text = "309dd362-af19-4943-8a31-fe12a3b4c5d6"
    assert redact(f"dossier {uuid_text} ok") == f"dossier {uuid_text} ok"
    assert redact(f"{VALID_IBAN} and fr76 3000 6000 0112 3456 7890 189") == "[IBAN] and [IBAN]"
    assert redact(f"sent to AGORA: {NIR_BODY}") == "sent to AGORA: [NIR]", "the 13-character form too"


def test_scrubbing_redacts_only_values_whose_check_digits_hold():
    from pacte_common.logs import redact
    from pacte_common.validators import validate_iban, validate_nir

    # Alembic revision ids and other hex ids have an IBAN's shape, not its mod-97 check digits
    for revision in ("ab12cd34ef56", "fe20a1b2c3d4", "de44aa0b9c7e1f23"):
        with pytest.raises(ValueError):
            validate_iban(revision)
        assert redact(f"Running upgrade -> {revision}, add dossiers") == f"Running upgrade -> {revision}, add dossiers"
    wrong_key = NIR_BODY + f"{(int(VALID_NIR[-2:]) % 97) + 1:02d}"
    with pytest.raises(ValueError):
        validate_nir(wrong_key)
    assert redact(f"order {wrong_key}") == f"order {wrong_key}", "15 digits whose NIR key fails: no NIR"
    wrong_iban = VALID_IBAN[:2] + f"{(int(VALID_IBAN[2:4]) + 1) % 100:02d}" + VALID_IBAN[4:]
    assert redact(f"ref {wrong_iban}") == f"ref {wrong_iban}"
    assert redact(f"{VALID_NIR} {VALID_IBAN}") == "[NIR] [IBAN]"
    assert redact("batch 1991300000000 sent") == "batch 1991300000000 sent", "13 digits without a NIR birth month"


def test_full_width_digits_are_not_digits_of_a_nir_a_siret_or_an_iban():
    from pacte_common.validators import validate_iban, validate_nir, validate_siret

    full_width = str.maketrans("0123456789", "０１２３４５６７８９")
    for validate, value in ((validate_nir, VALID_NIR), (validate_iban, VALID_IBAN), (validate_siret, "73282932000074")):
        assert validate(value)
        with pytest.raises(ValueError):
            validate(value.translate(full_width))
