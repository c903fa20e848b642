"""How many people a masked ID number singles out, beside the birth date and the agency.

    python -m bench.reidentification [--recipients 1000000] [--sample 2000] [--seed 7]

No database: the people are bench.province's (`id_number_for`, the same ID numbers the
benchmark province holds; each benefit is paid by the county of the number), and, because that
generator lays serials out evenly, a second population of the same size with random counties,
birth dates and serials. For each mask it reports two things:

- **in the population**: how many people are the only one with what a response shows
  (masked ID, birth date, agency), i.e. equivalence classes of size 1 (k = 1);
- **in the ID space**: for a sample, how many valid ID numbers (check character right) agree
  with what is shown; one candidate means the response *is* the ID number.

Both with and without the birth date, since only admin now reads it (app/access.py).
"""

from __future__ import annotations

import argparse
import random
import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, timedelta

from app.domain.id_numbers import check_character, mask_id_number
from bench.province import COUNTIES, id_number_for

Mask = Callable[[str], str]
BIRTH_DAYS = 47 * 365  # 1930-1976, the recipients' birth years


def old_mask(number: str) -> str:
    """The mask before revision 0011: first four and last four."""
    return number[:4] + "*" * 10 + number[-4:]


MASKS: dict[str, Mask] = {
    "old 1404**********1237": old_mask,
    "new 1404**************": mask_id_number,
}


def generator_population(size: int) -> list[str]:
    return [id_number_for(index, "14") for index in range(size)]


def random_population(size: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    first = date(1930, 1, 1)
    numbers = set[str]()
    while len(numbers) < size:
        birth = first + timedelta(days=rng.randrange(BIRTH_DAYS))
        first17 = f"{rng.choice(COUNTIES['14'])}{birth:%Y%m%d}{rng.randrange(1000):03d}"
        numbers.add(first17 + check_character(first17))
    return sorted(numbers)


def shown(number: str, mask: Mask, *, birth: bool) -> str:
    """What a response shows: the mask, the agency (the number's county), maybe the birth."""
    return mask(number) + number[:6] + (number[6:14] if birth else "")


def singled_out(numbers: Iterable[str], mask: Mask, *, birth: bool) -> tuple[int, float]:
    """People alone in their class, and the median class size a person is in."""
    classes = Counter(shown(number, mask, birth=birth) for number in numbers)
    alone = sum(1 for size in classes.values() if size == 1)
    sizes = sorted(size for size in classes.values() for _ in range(size))
    return alone, float(statistics.median(sizes))


def candidates(number: str, mask: Mask, *, birth: bool, agency: bool) -> int:
    """Valid ID numbers that agree with the masked form, the agency's county (when the attacker
    takes it for the number's) and the birth date (when shown). Hidden county digits are tried
    one by one against the check character; a hidden serial gives 1000 numbers (each with its
    one check character); an unknown birth date is any day of 1930-1976, of which about one in
    eleven keeps a shown check character right."""
    visible = mask(number)
    counties = [number[4:6]] if agency else [f"{d:02d}" for d in range(100)]
    serial_shown = visible[14:17] == number[14:17]
    if not serial_shown:
        return len(counties) * 1000 * (1 if birth else BIRTH_DAYS)
    if not birth:
        return len(counties) * BIRTH_DAYS // 11
    return sum(
        1
        for county in counties
        if check_character(number[:4] + county + number[6:17]) == visible[17]
    )


def report(name: str, numbers: list[str], sample_size: int, seed: int) -> None:
    print(f"\n{name}: {len(numbers):,} people in {len(COUNTIES['14'])} counties")
    sample = random.Random(seed).sample(numbers, min(sample_size, len(numbers)))
    for label, mask in MASKS.items():
        for birth in (True, False):
            alone, median = singled_out(numbers, mask, birth=birth)
            with_agency = [candidates(n, mask, birth=birth, agency=True) for n in sample]
            without = [candidates(n, mask, birth=birth, agency=False) for n in sample]
            print(
                f"  {label} {'+ birth date' if birth else '(no birth date)':16} + agency: "
                f"singled out {alone:>9,} ({alone / len(numbers):6.1%}), median class "
                f"{median:g}; ID candidates median {statistics.median(with_agency):,.0f} "
                f"(min {min(with_agency):,}), without the agency "
                f"{statistics.median(without):,.0f} (min {min(without):,})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    report("bench.province", generator_population(args.recipients), args.sample, args.seed)
    report("random", random_population(args.recipients, args.seed), args.sample, args.seed)


if __name__ == "__main__":
    main()
