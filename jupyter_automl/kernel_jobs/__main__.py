"""A local job runner process, started by a :class:`~jupyter_automl.kernel_jobs.LocalProcessExecutor`.

    python -m jupyter_automl.kernel_jobs JOB VERSION WORKER ATTEMPT    run this job now
    python -m jupyter_automl.kernel_jobs --standby                     start a kernel, import
        the engine in it, then read the job as one JSON line on stdin (end of input: exit)

The settings come in the ``JUPYTER_AUTOML_RUNNER`` environment variable.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

# jsonschema (through nbformat) imports rfc3987_syntax when it is installed, which builds a
# grammar for 1.5 s; notebook validation never checks IRIs, so a runner does without it.
sys.modules.setdefault("rfc3987_syntax", None)

from .queue import SUCCEEDED, Claim  # noqa: E402
from .runner import RunnerSettings, WarmKernel, log, run_job  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jupyter_automl.kernel_jobs")
    parser.add_argument("--standby", action="store_true")
    parser.add_argument("claim", nargs="*", help="JOB VERSION WORKER ATTEMPT")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = RunnerSettings.from_json(os.environ["JUPYTER_AUTOML_RUNNER"])
    kernel = None
    if args.standby:
        import papermill  # noqa: F401  (imported now, while there is nothing to do)

        kernel = WarmKernel(settings.kernel_name)
        line = sys.stdin.readline()
        if not line:  # the worker went away or no longer needs this runner
            kernel.shutdown()
            return 0
        claim = Claim(**json.loads(line))
    else:
        job_id, version_id, worker_id, attempt = args.claim
        claim = Claim(job_id, version_id, worker_id, int(attempt))
    status = run_job(claim, settings, kernel)
    log.info("job %s: %s", claim.job_id, status)
    return 0 if status == SUCCEEDED else 1


sys.exit(main())
