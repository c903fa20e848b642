"""What makes a pattern of certifications worth a fraud reviewer's look (GET /v1/risk-signals,
docs/reporting.md): the default thresholds, each overridable per request. The aggregates that
apply them are app/db/reporting/signals.py."""

from __future__ import annotations

# A family phone certifies two parents; three or more people on one device is how agents
# certifying for the dead (冒领) show up.
DEVICE_MIN_RECIPIENTS = 3
# A window clerk or terminal operator handles well under 100 a day even before a deadline.
OPERATOR_MIN_PER_DAY = 150
# A village service point or bank branch: a few hundred a day at the busiest.
SERVICE_POINT_MIN_PER_DAY = 300
# Repeated failed attempts: someone trying a face that is not theirs, or one who needs a visit.
FAILED_ATTEMPTS_MIN = 3


def volume_minimum(per_day: int, days: int) -> int:
    """The certifications an operator or service point must reach over ``days`` days (the
    window's days, its first and last included) to be flagged."""
    return per_day * days
