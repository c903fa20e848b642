"""Which role may call which operation: the one table that decides (API.md, "Conventions").

Every route of the app is listed by its OpenAPI operation id. The authenticating dependency
(`app.deps._principal`) checks the caller's role against the route's entry before the endpoint
runs, and `verify_routes` stops start-up when a route is missing from the table, when the table
names a route the app does not serve, or when a guarded route does not authenticate. Regions
(which agencies a county or data-exchange client may touch) stay with the objects they bound,
in the services; so do the checks that depend on the body (which channels a role posts, that
the data exchange reports suspected loss only) and on ownership (a mobile backend reads back
only its own certifications).

Choices where API.md's role table names no role for an operation are written next to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from app.domain.enums import Role
from app.errors import Forbidden

ADMIN, COUNTY, MOBILE, PAYMENT, DATA_EXCHANGE = (
    Role.ADMIN,
    Role.COUNTY,
    Role.MOBILE,
    Role.PAYMENT,
    Role.DATA_EXCHANGE,
)


def _roles(*roles: Role) -> frozenset[Role]:
    """API.md: admin may do everything; every entry names the other roles that may."""
    return frozenset({ADMIN, *roles})


# No key needed: liveness, readiness, metrics, and the benchmark ceiling.
PUBLIC: frozenset[Role] | None = None
ADMIN_ONLY = _roles()
COUNTY_WORK = _roles(COUNTY)
CERTIFYING = _roles(MOBILE, COUNTY, DATA_EXCHANGE)
ELIGIBILITY_READ = _roles(MOBILE, PAYMENT)
PAYMENT_WORK = _roles(PAYMENT)

OPERATIONS: Mapping[str, frozenset[Role] | None] = {
    # Operations
    "healthz_healthz_get": PUBLIC,
    "readyz_readyz_get": PUBLIC,
    "metrics_metrics_get": PUBLIC,
    "ceiling_bench_ceiling__recipient_id__get": PUBLIC,  # only with CERTSVC_BENCH_CEILING
    # Recipients: county "register recipients" (in its regions) and "look up recipients"
    # (in its province). Mobile and payment clients never read a person's record.
    "register_recipient_v1_recipients_post": COUNTY_WORK,
    "lookup_recipient_v1_recipients_lookup_post": COUNTY_WORK,
    "get_recipient_v1_recipients__recipient_id__get": COUNTY_WORK,
    "update_recipient_v1_recipients__recipient_id__patch": COUNTY_WORK,
    # The approval step of registration (待遇核定前).
    "approve_benefit_v1_recipients__recipient_id__benefits__benefit_id__approval_post": (
        COUNTY_WORK
    ),
    # Eligibility: mobile "read eligibility"; payment "eligibility reads, batch checks".
    "get_eligibility_v1_recipients__recipient_id__eligibility_get": ELIGIBILITY_READ,
    "post_check_v1_eligibility_check_post": PAYMENT_WORK,
    # Certifications: each certifying role posts its own channels
    # (app/domain/acceptance.py CHANNELS_BY_ROLE) and reads back a record it may post; a mobile
    # backend only its own records. A recipient's history is a look-up (county).
    "post_certification_v1_certifications_post": CERTIFYING,
    "post_certification_batch_v1_certifications_batch_post": CERTIFYING,
    "get_certification_v1_certifications__certification_id__get": CERTIFYING,
    "list_certifications_v1_recipients__recipient_id__certifications_get": COUNTY_WORK,
    "revoke_certification_v1_certifications__certification_id__revoke_post": COUNTY_WORK,
    # Stop events (the data exchange: suspected loss only) and verification.
    "post_stop_report_v1_stop_reports_post": _roles(COUNTY, DATA_EXCHANGE),
    "list_cases_v1_verification_cases_get": COUNTY_WORK,
    "get_case_v1_verification_cases__case_id__get": COUNTY_WORK,
    "post_contact_v1_verification_cases__case_id__contacts_post": COUNTY_WORK,
    "post_resolution_v1_verification_cases__case_id__resolution_post": COUNTY_WORK,
    # Resumption steps and after-the-fact checks close verification work: county.
    "post_commitment_v1_recipients__recipient_id__commitments_post": COUNTY_WORK,
    "post_employer_verification_v1_recipients__recipient_id__employer_verifications_post": (
        COUNTY_WORK
    ),
    "post_continuation_v1_recipients__recipient_id__continuations_post": COUNTY_WORK,
    "get_post_checks_v1_post_checks_get": COUNTY_WORK,
    # Moratoria: API.md marks the bullet admin; no other role is given them.
    "post_moratorium_v1_moratoria_post": ADMIN_ONLY,
    "get_moratoria_v1_moratoria_get": ADMIN_ONLY,
    # Payment runs.
    "post_payment_run_v1_payment_runs_post": PAYMENT_WORK,
    "get_payment_run_v1_payment_runs__run_id__get": PAYMENT_WORK,
    "get_payment_run_items_v1_payment_runs__run_id__items_get": PAYMENT_WORK,
    # Reminders, statistics, outreach (reminders' items) and risk signals: county reporting
    # in its regions. The mobile role no longer lists reminders: a listing of every phone of
    # a province is not "read eligibility".
    "get_reminders_v1_reminders_get": COUNTY_WORK,
    "get_stats_v1_stats_get": COUNTY_WORK,
    "get_outreach_v1_outreach_get": COUNTY_WORK,
    "get_risk_signals_v1_risk_signals_get": COUNTY_WORK,
    # Home-visit requests.
    "post_request_v1_home_visit_requests_post": COUNTY_WORK,
    "list_requests_v1_home_visit_requests_get": COUNTY_WORK,
    "get_request_v1_home_visit_requests__request_id__get": COUNTY_WORK,
    "post_assignment_v1_home_visit_requests__request_id__assignment_post": COUNTY_WORK,
    "post_outcome_v1_home_visit_requests__request_id__outcome_post": COUNTY_WORK,
    # Webhooks carry reminders and status changes of the subscriber's regions: county, as
    # reminders are; a county manages only its own subscriptions. Retrying is operations.
    "post_webhook_v1_webhooks_post": COUNTY_WORK,
    "list_webhooks_v1_webhooks_get": COUNTY_WORK,
    "get_webhook_v1_webhooks__webhook_id__get": COUNTY_WORK,
    "delete_webhook_v1_webhooks__webhook_id__delete": COUNTY_WORK,
    "list_deliveries_v1_webhooks__webhook_id__deliveries_get": COUNTY_WORK,
    "retry_delivery_v1_webhooks_deliveries__delivery_id__retry_post": ADMIN_ONLY,
    # The audit log.
    "list_audit_entries_v1_audit_log_get": ADMIN_ONLY,
}

# Served only under a setting, so the table may name them when the app does not serve them.
MOUNTED_BY_SETTING = frozenset({"ceiling_bench_ceiling__recipient_id__get"})

# Properties, not operations (OWASP API3): who sees a recipient's birth date, and full phone
# numbers in bulk listings. The birth date is not in API.md's recipient answer at all, and a
# county that needs it holds the ID number it registered or looked the person up with; with
# the masked ID and the agency it narrows a person down (docs/security.md, "Least privilege
# and masking").
BIRTH_DATE_ROLES = frozenset({ADMIN})
# A bulk listing leaks whole districts at once: counties read phones masked.
FULL_PHONE_LISTING_ROLES = frozenset({ADMIN})


def authorize(role: Role, route: object) -> None:
    """403 `forbidden_role` unless the role may call the route; a route the table does not
    know is refused (verify_routes makes that impossible at start-up, this keeps it closed)."""
    operation = route.unique_id if isinstance(route, APIRoute) else None
    roles = OPERATIONS.get(operation, frozenset()) if operation is not None else frozenset()
    if roles is not None and role not in roles:
        raise Forbidden(f"the {role.value} role may not do this", code="forbidden_role")


class AccessTableError(RuntimeError):
    """The routes and the access table disagree: the app must not start."""


def verify_routes(routes: Iterable[BaseRoute], guards: Iterable[Callable[..., Any]]) -> None:
    """Every route is in the table, every entry is a route, and every route that needs a role
    runs one of the authenticating ``guards`` (the dependencies that call ``_principal``)."""
    # The routes as included: the scope's "route" at request time is the original APIRoute.
    originals = (context.original_route for context in iter_route_contexts(list(routes)))
    served = {route.unique_id: route for route in originals if isinstance(route, APIRoute)}
    missing = sorted(set(served) - set(OPERATIONS))
    unknown = sorted(set(OPERATIONS) - set(served) - MOUNTED_BY_SETTING)
    guard_set = set(guards)
    unguarded = sorted(
        operation
        for operation, route in served.items()
        if OPERATIONS.get(operation, PUBLIC) is not None
        and not _depends_on(route.dependant, guard_set)
    )
    problems = [
        *(f"route {name} is not in app/access.py OPERATIONS" for name in missing),
        *(f"app/access.py names {name}, which the app does not serve" for name in unknown),
        *(f"route {name} needs a role but does not authenticate" for name in unguarded),
    ]
    if problems:
        raise AccessTableError("; ".join(problems))


def _depends_on(dependant: Dependant, guards: set[Callable[..., Any]]) -> bool:
    return any(sub.call in guards or _depends_on(sub, guards) for sub in dependant.dependencies)
