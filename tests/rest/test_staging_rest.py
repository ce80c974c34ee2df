"""The server sweeps what unfinished uploads left in the staging folder when it starts."""

from __future__ import annotations

import asyncio
import os
import time

import pytest


@pytest.fixture
def left_behind(tmp_path):
    """An upload folder that a server killed mid-upload left three hours ago, and one still being
    written to, both there before the server starts."""
    staging = tmp_path / "rest-data" / "staging"
    paths = {}
    for name, hours in (("left", 3), ("going", 0)):
        folder = staging / f"upload-{name}"
        folder.mkdir(parents=True)
        (folder / "reviews.csv").write_text("text_data,label\n")
        stamp = time.time() - hours * 3600
        os.utime(folder / "reviews.csv", (stamp, stamp))
        os.utime(folder, (stamp, stamp))
        paths[name] = folder
    return paths


@pytest.fixture
def automl_traits(left_behind):
    return {"staging_max_age_hours": 2}


async def test_the_server_deletes_what_unfinished_uploads_left_when_it_starts(jp_serverapp, left_behind):
    for _ in range(100):  # the sweep runs off the event loop just after the start
        if not left_behind["left"].exists():
            break
        await asyncio.sleep(0.05)
    assert not left_behind["left"].exists()
    assert (left_behind["going"] / "reviews.csv").exists()
