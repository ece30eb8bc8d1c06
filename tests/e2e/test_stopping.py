"""Issue 8, "stopping and failing leave the catalog usable", end to end.

- SIGTERM during apply (how CI runners, Kubernetes and `timeout` stop a job) is handled like Ctrl-C:
  no new change starts, the ones in flight finish (up to a bound), the report is printed, the lock
  is released and the exit code is 143. A real ``reconciler apply`` subprocess against the ARM
  emulator (its captures take real seconds) and Azurite (the shared blob-lease lock).
- A lock that cannot be released after a successful apply (its blob lease was broken) still shows
  the report, then the error with the exact ``force-unlock`` command.
"""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.azurite import azurite  # noqa: F401 - the session fixture
from tests.e2e.test_azure_gitops import N_IMAGES, finish, reconciler, world  # noqa: F401 - world is a fixture


def wait_for_line(stream, text: str, p: subprocess.Popen[str]) -> list[str]:
    """Read ``stream`` until a line holds ``text`` (apply's own log line: no sleeping, no polling)."""
    seen = []
    for line in stream:
        seen.append(line)
        if text in line:
            return seen
    pytest.fail(f"the apply ended before printing {text!r}: {''.join(seen)} {p.communicate()}")


# --------------------------------------------------------------------------------------------------
# 7. SIGTERM


def test_sigterm_during_apply_finishes_the_change_in_flight_reports_releases_and_exits_143(world):  # noqa: F811 - pytest fixture by name
    cwd, emu, env, lock = world
    emu.faults.lro_seconds = 3.0
    victim = reconciler(cwd, env, "apply", "--auto-approve", "--parallelism", "1")
    assert victim.stdout is not None
    wait_for_line(victim.stdout, "capture started", victim)
    holder = lock.holder()
    assert holder is not None, "the apply never took the lock"
    victim.send_signal(signal.SIGTERM)
    out, err = victim.communicate(timeout=120)
    assert victim.returncode == 143, out + err
    assert "Traceback" not in out + err
    # The change in flight was allowed to finish; the other two never started.
    assert "Apply finished: 1 done, 0 failed, 2 not started." in out, out
    assert "SIGTERM" in err, err
    # The lock was released: nobody is recorded, and the next apply takes it at once and does the rest.
    assert lock.holder() is None
    code, text = finish(reconciler(cwd, env, "plan", "--detailed-exitcode"))
    assert code == 2, text
    code, text = finish(reconciler(cwd, env, "apply", "--auto-approve", "--lock-timeout", "0"))
    assert code == 0, text
    assert f"Apply finished: {N_IMAGES - 1} done" in text


def test_a_second_sigterm_stops_waiting_and_keeps_the_lock_of_the_change_still_running(world):  # noqa: F811 - pytest fixture by name
    cwd, emu, env, lock = world
    emu.faults.lro_seconds = 600.0  # far beyond any grace period: only a second signal ends the wait
    victim = reconciler(cwd, env, "apply", "--auto-approve", "--parallelism", "1")
    assert victim.stdout is not None and victim.stderr is not None
    wait_for_line(victim.stdout, "capture started", victim)
    victim.send_signal(signal.SIGTERM)
    wait_for_line(victim.stderr, "waiting up to", victim)
    victim.send_signal(signal.SIGTERM)
    out, err = victim.communicate(timeout=60)
    assert victim.returncode == 143, out + err
    assert "Traceback" not in out + err
    assert "still running" in out, out
    assert "2 not started" in out, out
    # A capture may still be running in Azure: the lock stays, and the message says how to clear it.
    holder = lock.holder()
    assert holder is not None
    assert f"reconciler force-unlock {holder.id} --file images.yaml" in err, err
    code, text = finish(reconciler(cwd, env, "force-unlock", holder.id, "--file", "images.yaml"))
    assert code == 0, text
    assert lock.holder() is None


# --------------------------------------------------------------------------------------------------
# 8. A release failure after a successful apply


def test_a_lock_lost_during_a_successful_apply_still_prints_the_report_then_the_force_unlock_command(world):  # noqa: F811 - pytest fixture by name
    from azure.storage.blob import BlobLeaseClient

    cwd, emu, env, lock = world
    emu.faults.lro_seconds = 3.0
    victim = reconciler(cwd, env, "apply", "--auto-approve")
    assert victim.stdout is not None
    for _ in range(N_IMAGES):  # every change has started (and passed its lock check)
        wait_for_line(victim.stdout, "capture started", victim)
    holder = lock.holder()
    assert holder is not None
    # The lease is lost behind the run's back (what a storage outage longer than a lease does).
    BlobLeaseClient(lock._blob).break_lease(lease_break_period=0)
    out, err = victim.communicate(timeout=120)
    assert victim.returncode == 1, out + err
    assert "Traceback" not in out + err
    assert f"Apply finished: {N_IMAGES} done, 0 failed, 0 not started." in out, out
    assert f"reconciler force-unlock {holder.id} --file images.yaml" in err, err
    # The command printed works.
    code, text = finish(reconciler(cwd, env, "force-unlock", holder.id, "--file", "images.yaml"))
    assert code == 0, text
