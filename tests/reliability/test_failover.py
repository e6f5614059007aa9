"""The primary of a 3-member replica set is SIGKILLed under write load, in seconds.

``benchmarks/failover.py`` (its full run is a command in docs/reliability.md), short: 4
writers for 12 s against the items app served by 2 uvicorn workers, one kill at 4 s. The set
elects after 4 s without a heartbeat and the engine gives up waiting for a primary after
1.5 s, so requests during the election must get a 503.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

SHORT_RUN = [
    *("--duration", "12", "--writers", "4", "--kills", "1", "--workers", "2"),
    *("--server-selection-timeout-ms", "1500"),
    *("--election-timeout-ms", "4000", "--heartbeat-interval-ms", "500"),
]


def test_a_killed_primary_loses_no_write_and_answers_503_meanwhile(
    failover: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "report.json"

    assert failover.main([*SHORT_RUN, "--json", str(report_path)]) == 0

    report = json.loads(report_path.read_text())
    (kill,) = report["kills"]
    assert kill["new_primary"] not in (None, kill["member"])
    assert kill["no_write_acknowledged_s"] is not None

    # No acknowledged write is lost: each id is read back from the new primary (majority).
    assert report["acknowledged"] > 0
    assert report["lost_acknowledged_writes"] == 0, report["lost_ids"]
    assert report["default_write_concern"]["write_concern"]["w"] == "majority"

    # Every request that failed was a 503 with Retry-After: no 500, nothing hung.
    assert report["error"] == 0, report["errors_seen"]
    assert report["hung"] == 0
    assert report["refused"] > 0, "no request met the election: nothing was tested"
    assert report["requests"] == report["acknowledged"] + report["refused"]
    assert report["refused_window_s"][0] >= kill["at_s"]  # refused only because of the kill

    # Writes succeed again after the election, on the same worker processes.
    assert report["acknowledged_after_last_election"] > 0
    assert report["server_alive"] is True
    assert report["worker_starts"] == 2
    assert len(report["worker_pids_before"]) == 2
    assert set(report["worker_pids_after"]) <= set(report["worker_pids_before"])
    assert report["workers_restarted"] is False

    # Readiness went 503 during the election and came back to 200 by itself.
    assert kill["readiness_503_s"] is not None, "/ready never said 503"
    assert kill["readiness_200_again_s"] is not None, "/ready never came back to 200"
    assert kill["readiness_200_again_s"] > kill["readiness_503_s"]
    assert kill["killed_member_secondary_again_s"] is not None

    assert report["missed"] == []
    assert "All targets met." in capsys.readouterr().out


def test_kills_are_spread_over_the_run(failover: ModuleType) -> None:
    assert failover.FailoverSettings().kill_times() == [20.0]  # the default: once, at D/3
    assert failover.FailoverSettings(duration=120, kills=3).kill_times() == [24, 48, 72]
    assert failover.FailoverSettings(server_selection_timeout_ms=2000).request_bound == 7
    args = failover.parse_args(["--kills", "2", "--json", "out.json"])
    assert (args.kills, args.duration, args.json) == (2, 60.0, Path("out.json"))
    with pytest.raises(SystemExit):
        failover.parse_args(["--writers", "0"])
