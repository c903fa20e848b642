"""What Schemathesis generates for the formats this service's OpenAPI document names."""

from __future__ import annotations

from datetime import date

import schemathesis
from hypothesis import strategies as st

from app.domain.id_numbers import check_character
from app.schemas.common import ID_NUMBER_FORMAT


def _id_number(region: str, birth: date, serial: int) -> str:
    first17 = f"{region}{birth:%Y%m%d}{serial:03d}"
    return first17 + check_character(first17)


# GB 11643: a division code, a birth date (not in the future) and the check character.
schemathesis.openapi.format(
    ID_NUMBER_FORMAT,
    st.builds(
        _id_number,
        st.sampled_from(["140402", "140105", "430102", "110101"]),
        st.dates(date(1900, 1, 1), date(2010, 12, 31)),
        st.integers(0, 999),
    ),
)
