"""GB 11643 check characters and masking."""

from __future__ import annotations

import pytest

from app.domain.id_numbers import InvalidIdNumber, mask_id_number, normalize_id_number


def test_the_contract_example_is_valid() -> None:
    assert normalize_id_number("140402195001011237") == "140402195001011237"


def test_a_lower_case_x_check_character_is_normalized() -> None:
    # 11010519491231002X is the standard's published example.
    assert normalize_id_number("11010519491231002x") == "11010519491231002X"


@pytest.mark.parametrize(
    "value",
    [
        "140402195001011238",
        "14040219500101123",
        "1404021950010112377",
        "14040219500101123A",
        "140402195002301234",
        "",
    ],
)
def test_invalid_numbers_are_refused_without_echo(value: str) -> None:
    with pytest.raises(InvalidIdNumber) as raised:
        normalize_id_number(value)
    assert value == "" or value not in str(raised.value)


def test_masking_keeps_only_province_and_city() -> None:
    """The serial and check character beside a birth date and agency gave the number back."""
    assert mask_id_number("140402195001011237") == "1404**************"
    assert mask_id_number("43010219500101123X") == "4301**************"
