"""The staging folder's sweep (datasets/staging.py): what unfinished uploads left is deleted once
nothing has written to it for ``staging_max_age_hours``; uploads in progress are kept."""

from __future__ import annotations

import os
import time

from jupyter_automl.datasets.staging import sweep

HOUR = 3600.0


def aged(path, hours):
    stamp = time.time() - hours * HOUR
    os.utime(path, (stamp, stamp))


def test_entries_nobody_wrote_to_for_the_age_are_deleted_and_uploads_in_progress_kept(tmp_path):
    folder = tmp_path / "staging"
    left = folder / "upload-left"
    left.mkdir(parents=True)
    (left / "reviews.csv").write_text("text_data,label\n")
    aged(left / "reviews.csv", 30)
    aged(left, 30)
    going = folder / "upload-going"  # an old folder whose file is still being appended to
    going.mkdir()
    (going / "photos.zip").write_bytes(b"PK")
    aged(going, 30)
    old_file = folder / "chunk-1234.part"
    old_file.write_bytes(b"x")
    aged(old_file, 25)
    fresh_file = folder / "chunk-5678.part"
    fresh_file.write_bytes(b"y")

    deleted = sweep(folder, 24 * HOUR)

    assert sorted(p.name for p in deleted) == ["chunk-1234.part", "upload-left"]
    assert sorted(p.name for p in folder.iterdir()) == ["chunk-5678.part", "upload-going"]
    assert (going / "photos.zip").read_bytes() == b"PK"


def test_an_age_of_zero_keeps_everything_and_a_missing_folder_is_no_error(tmp_path):
    folder = tmp_path / "staging"
    folder.mkdir()
    (folder / "old.part").write_bytes(b"x")
    aged(folder / "old.part", 1000)
    assert sweep(folder, 0) == [] and (folder / "old.part").exists()
    assert sweep(tmp_path / "nowhere", HOUR) == []


def test_the_core_sweeps_its_staging_folder_with_its_configured_age(make_automl):
    automl = make_automl(staging_max_age_hours=2)
    old, recent = automl.staging / "upload-old", automl.staging / "upload-recent"
    for folder, hours in ((old, 3), (recent, 1)):
        folder.mkdir()
        (folder / "data.csv").write_text("a\n")
        aged(folder / "data.csv", hours)
        aged(folder, hours)
    assert automl.sweep_staging() == 1
    assert not old.exists() and recent.exists()
