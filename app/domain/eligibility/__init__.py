"""May this benefit be paid for this month? The certification rules as one pure function.

The payment system asks before every monthly disbursement; a wrong "withhold" stops a living
person's income and a wrong "pay" loses public money (冒领). Every date rule here is explained,
with the notice sentence behind it, in docs/policy.md.

A payment run asks millions of times, and almost every benefit has nothing but certifications:
no stop, no suspicion, no step or moratorium that could matter. For those the months need not
be walked one by one: `shortcut` reads the answer straight off the certifications' validity
and gives up (None) on anything else, which `walk` then walks month by month (`simulate`).
Both must give equal answers; tests/domain/test_fast_path.py checks that they do.

The modules, in the order a decision uses them: `facts` (what the engine is told and
answers), `setup` (the policy's terms for a benefit type, the argument checks), `validity`
(which certifications count and the months they cover), `shortcut`, `walk` (the months one by
one, overpayments), `evaluate` (the entry points).
"""

from app.domain.eligibility.evaluate import evaluate_eligibility, evaluate_full, months_paid
from app.domain.eligibility.facts import (
    BenefitFacts,
    CertificationFact,
    Eligibility,
    RecipientFacts,
)
from app.domain.reasons import Reason

__all__ = [
    "BenefitFacts",
    "CertificationFact",
    "Eligibility",
    "Reason",
    "RecipientFacts",
    "evaluate_eligibility",
    "evaluate_full",
    "months_paid",
]
