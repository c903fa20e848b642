"""``certsvc calendar``: an agency loads a year's official arrangement itself, on an embedded
SQLite database (the service functions it calls are tested on both databases in
tests/api/test_calendar_api.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cli import ROOT, certsvc

TEST_2027 = ROOT / "tests" / "data" / "calendar-2027-test.json"


KEYS = {"CERTSVC_ID_HMAC_KEY": "h" * 43 + "=", "CERTSVC_ID_ENCRYPTION_KEY": "e" * 43 + "="}


def _certsvc(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return certsvc(tmp_path, *args, env=KEYS)


def test_load_is_versioned_idempotent_and_shown_by_status(tmp_path: Path) -> None:
    status = _certsvc(tmp_path, "calendar", "status")
    assert status.returncode == 0, status.stderr
    assert "2026  version 1" in status.stdout
    assert "loaded by migration 0019" in status.stdout
    assert "2027" not in status.stdout.split("covered through")[0]

    loaded = _certsvc(tmp_path, "calendar", "load", str(TEST_2027), "--loaded-by", "王科长")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.startswith("2027: version 1 loaded (28 holidays, 5 working weekend")
    again = _certsvc(tmp_path, "calendar", "load", str(TEST_2027), "--loaded-by", "someone")
    assert again.stdout.strip() == "2027: unchanged, already version 1"

    after = _certsvc(tmp_path, "calendar", "status").stdout
    assert "2027  version 1  33 days" in after
    assert "loaded by 王科长" in after
    assert after.rstrip().endswith("0 stop-report deadlines are provisional")
    recompute = _certsvc(tmp_path, "calendar", "recompute")
    assert recompute.returncode == 0, recompute.stderr
    assert recompute.stdout.strip() == "0 provisional stop-report deadlines changed"


def test_a_malformed_file_is_refused_whole_with_one_line(tmp_path: Path) -> None:
    """A 2028 arrangement leaving out 元旦: "元旦，放假1天（1月1日）" is a day off by law."""
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {"year": 2028, "source": "typo", "holidays": ["2028-01-02"], "working_days": []}
        ),
        encoding="utf-8",
    )
    refused = _certsvc(tmp_path, "calendar", "load", str(bad))
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith("2028-01-01 is a statutory holiday and must be one")
    assert "2028" not in _certsvc(tmp_path, "calendar", "status").stdout
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"year": 2028, "source": "x", "holidays": [], "days_off": []}')
    assert "unknown field 'days_off'" in _certsvc(tmp_path, "calendar", "load", str(unknown)).stderr
