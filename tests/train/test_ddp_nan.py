"""Under DDP a non-finite loss on one rank stops every rank in the same step (instead of leaving the others to wait
in the next gradient all-reduce)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.train.harness import quiet_env

JOB = Path(__file__).with_name("ddp_nan_job.py")


def test_a_nan_on_one_rank_stops_both_ranks_at_that_step() -> None:
    process = subprocess.Popen(
        [sys.executable, str(JOB)],
        env=quiet_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # rank 1 is its child: on a hang, kill the whole group
    )
    try:
        output, _ = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        raise AssertionError(f"a rank hung after the other saw a NaN loss:\n{output[-3000:]}") from None
    assert process.returncode != 0, output
    assert "non-finite training loss (nan) at step 2" in output, output[-3000:]  # rank 1, which saw it
    assert "non-finite training loss on another rank (rank 0's is finite) at step 2" in output, output[-3000:]
