"""A local job runner process: ``python -m jupyter_automl.kernel_jobs JOB VERSION WORKER ATTEMPT``.

A :class:`~jupyter_automl.kernel_jobs.LocalProcessExecutor` starts one per job.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .queue import SUCCEEDED, Claim
from .runner import RunnerSettings, log, run_job


def main(argv: list[str] | None = None) -> int:
    """Entry point of a local runner process; the settings come in ``JUPYTER_AUTOML_RUNNER``."""
    parser = argparse.ArgumentParser(prog="python -m jupyter_automl.kernel_jobs")
    parser.add_argument("job_id")
    parser.add_argument("version_id")
    parser.add_argument("worker_id")
    parser.add_argument("attempt", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = RunnerSettings.from_json(os.environ["JUPYTER_AUTOML_RUNNER"])
    claim = Claim(args.job_id, args.version_id, args.worker_id, args.attempt)
    status = run_job(claim, settings)
    log.info("job %s: %s", args.job_id, status)
    return 0 if status == SUCCEEDED else 1



sys.exit(main())
