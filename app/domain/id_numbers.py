"""Resident ID numbers (GB 11643-1999): 17 digits and a check character computed mod 11.

The same format carries foreigners' permanent-residence IDs and the residence permits of
Hong Kong, Macau and Taiwan residents, so only the structure and the check character are
validated, not the region code.
"""

from __future__ import annotations

from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"


class InvalidIdNumber(ValueError):
    """Raised with a message that never repeats the number itself."""


def check_character(first17: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def normalize_id_number(value: str) -> str:
    """Return the canonical form (upper-case X) of a valid ID number, or raise InvalidIdNumber."""
    text = value.strip().upper()
    # isdigit() alone would take other scripts' digits (Arabic-Indic, full-width, superscripts).
    if (
        len(text) != 18
        or not text.isascii()
        or not text[:17].isdigit()
        or not (text[17].isdigit() or text[17] == "X")
    ):
        raise InvalidIdNumber("an ID number is 17 digits followed by a digit or X")
    if check_character(text[:17]) != text[17]:
        raise InvalidIdNumber("the ID number's check character is wrong")
    try:
        birth_date_of(text)
    except ValueError:
        raise InvalidIdNumber("the ID number's birth date is not a real date") from None
    return text


def birth_date_of(id_number: str) -> date:
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


# Visible characters of a masked ID number: province and city (GB/T 2260), which the agency
# code already tells. The old mask also kept the last four (the birth-order serial and the
# check character): with the birth date that left ~9 candidate numbers, and with the agency's
# county exactly one (docs/security.md, "Least privilege and masking", measured by
# bench/reidentification.py).
MASK_VISIBLE = 4


def mask_id_number(id_number: str) -> str:
    """The province and city prefix, the rest as stars: ``1404**************``."""
    return id_number[:MASK_VISIBLE] + "*" * (len(id_number) - MASK_VISIBLE)
