"""``certsvc rekey``: rewrite what previous ID keys wrote under the current keys."""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any

from app.cli.runner import positive, run_with

if TYPE_CHECKING:
    from app.runtime import Runtime
    from app.services.recipients.rekey import RekeySummary


def add_commands(commands: Any) -> None:
    rekey = commands.add_parser(
        "rekey",
        help="rewrite stored ID digests and ciphertexts under the current keys (key rotation)",
        description="Rewrite what previous ID keys wrote (recipients' ID digests and "
        "ciphertexts, webhook secrets) with the current keys, in short batches; safe while "
        "the API serves; run it again to resume. docs/security.md gives the whole procedure.",
    )
    rekey.add_argument(
        "--check", action="store_true", help="count what still needs a previous key; write nothing"
    )
    rekey.add_argument("--batch-size", type=positive, default=1000, help="rows per transaction")
    rekey.add_argument("--after", type=uuid.UUID, help="resume after this recipient id")
    rekey.set_defaults(handler=_rekey)


def _rekey(args: argparse.Namespace) -> int:
    from app.services.recipients.rekey import rekey

    verb = "to rewrite" if args.check else "rewritten"
    started = time.monotonic()

    def progress(summary: RekeySummary) -> None:
        print(
            f"\r{summary.recipients:>10,} recipients  {summary.recipients_rewritten:>10,} {verb}"
            f"  (resume with --after {summary.last_id})",
            end="",
            file=sys.stderr,
            flush=True,
        )

    async def run(runtime: Runtime) -> RekeySummary:
        return await rekey(
            runtime.sessions,
            runtime.protector,
            batch_size=args.batch_size,
            after=args.after,
            check_only=args.check,
            progress=progress,
        )

    summary = run_with(run)
    print(file=sys.stderr)
    print(
        f"recipients {summary.recipients}: {verb} {summary.recipients_rewritten}, unreadable "
        f"{len(summary.unreadable)}, registered twice {len(summary.duplicates)}; names and "
        f"phones: {verb} {summary.personal_rewritten}, unreadable "
        f"{len(summary.personal_unreadable)}; webhooks "
        f"{summary.webhooks}: {verb} {summary.webhooks_rewritten}, unreadable "
        f"{len(summary.webhooks_unreadable)}; {time.monotonic() - started:.1f}s"
    )
    for recipient_id in summary.unreadable:
        print(f"  recipient {recipient_id}: its ID ciphertext opens with no configured key")
    for recipient_id in summary.duplicates:
        print(f"  recipient {recipient_id}: another recipient has the same ID number")
    for field, row_id in summary.personal_unreadable:
        print(f"  {field} of {row_id}: opens with no configured key")
    for webhook_id in summary.webhooks_unreadable:
        print(f"  webhook {webhook_id}: its secret opens with no configured key")
    pending = summary.rewritten if args.check else 0
    if summary.previous_keys_needed or pending:
        print("previous keys are still needed")
        return 1
    if args.check and args.after is None:
        print("nothing stored needs a previous key (see docs/security.md before removing them)")
    return 0
