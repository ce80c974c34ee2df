"""The installed package: Jupyter sees the server extension and the labextension as enabled and OK."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

BIN = os.path.dirname(sys.executable)
JUPYTER = shutil.which("jupyter", path=BIN)
pytestmark = pytest.mark.skipif(JUPYTER is None, reason="jupyter is not installed next to Python")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _jupyter(*args: str) -> str:
    done = subprocess.run(
        [JUPYTER, *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"},
    )
    return ANSI.sub("", done.stdout + done.stderr)


def test_server_extension_is_enabled_and_loads():
    listing = _jupyter("server", "extension", "list")
    assert re.search(r"jupyter_automl\s+enabled", listing), listing
    assert re.search(r"jupyter_automl [\d.]+\S* OK", listing), listing


def test_labextension_is_enabled_and_ok():
    listing = _jupyter("labextension", "list")
    assert re.search(r"jupyter-automl v[\d.]+\S* enabled\s+OK", listing), listing


def test_jupyter_finds_the_automl_subcommand():
    done = subprocess.run(
        [JUPYTER, "automl", "--help"], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PATH": BIN},
    )
    assert done.returncode == 0, done.stderr
    assert "datasets" in done.stdout and "snapshots" in done.stdout
