"""DESIGN §4 rules for image classification, and safe handling of the uploaded zips."""

from __future__ import annotations

import stat
import zipfile

import pytest

from jupyter_automl.datasets.validation import validate_file
from jupyter_automl.datasets.zipfiles import extract_images
from jupyter_automl.errors import InvalidInput, NotFound
from tests.datasets.files import (
    find_issue,
    image_rows,
    jpeg_bytes,
    png_bytes,
    png_header_only,
    write_dicts,
    write_images_zip,
)


def upload(tmp_path, rows, extra=None):
    csv_path = write_dicts(tmp_path / "labels.csv", rows)
    zip_path = write_images_zip(tmp_path / "images.zip", [r for r in rows if r.get("image")], extra)
    return csv_path, zip_path


def test_valid_csv_and_zip_give_entry_names_and_heads(tmp_path, image_settings):
    rows = image_rows(120)
    csv_path, zip_path = upload(tmp_path, rows)
    result = validate_file(csv_path, image_settings(), images_zip=zip_path)
    report = result.report
    assert report.valid, report.summary()
    assert result.images_zip == zip_path
    assert list(result.table.columns) == ["row", "image", "animal"]
    assert result.table["image"].tolist() == [r["image"] for r in rows]
    assert report.heads == {"animal": {"cat": 40, "dog": 40, "fox": 40}}
    assert report.token_stats is None


def test_image_missing_from_the_zip_is_an_invalid_row(tmp_path, image_settings):
    rows = image_rows(120)
    csv_path, zip_path = upload(tmp_path, rows)
    rows[7]["image"] = "images/unicorn.png"
    rows[8]["image"] = rows[8]["image"].upper()
    write_dicts(csv_path, rows)
    report = validate_file(csv_path, image_settings(), images_zip=zip_path).report
    find_issue(report.errors, 9, "image", "'images/unicorn.png' is not in images.zip")
    find_issue(report.errors, 10, "image", "did you mean 'images/fox_0008.png'? names are case-sensitive")


def test_image_that_does_not_decode_is_an_invalid_row(tmp_path, image_settings):
    rows = image_rows(120)
    rows[3]["image"] = "images/broken.png"
    rows[4]["image"] = "images/truncated.jpg"
    rows[5]["image"] = "images/notes.png"
    extra = {
        "images/broken.png": png_bytes(16, 16)[:60] + b"\x00" * 40,
        "images/truncated.jpg": jpeg_bytes(64, 64)[:200],
        "images/notes.png": b"this is a text file, not an image",
    }
    csv_path, zip_path = upload(tmp_path, [r for i, r in enumerate(rows) if i not in (3, 4, 5)], extra)
    write_dicts(csv_path, rows)
    report = validate_file(csv_path, image_settings(), images_zip=zip_path).report
    assert report.invalid_row_numbers == [5, 6, 7]
    find_issue(report.errors, 5, "image", "'images/broken.png'")
    find_issue(report.errors, 6, "image", "'images/truncated.jpg': image does not decode")
    find_issue(report.errors, 7, "image", "'images/notes.png': not an image")


def test_image_larger_than_max_image_bytes_is_an_invalid_row(tmp_path, image_settings):
    rows = image_rows(120)
    big = png_bytes(64, 64, noise=True)
    rows[0]["image"] = "images/big.png"
    csv_path, zip_path = upload(tmp_path, rows[1:], {"images/big.png": big})
    write_dicts(csv_path, rows)
    report = validate_file(csv_path, image_settings(max_image_bytes=5_000), images_zip=zip_path).report
    find_issue(report.errors, 2, "image", f"image is {len(big):,} bytes, more than the limit of 5,000")
    assert report.invalid_row_numbers == [2]


def test_image_with_too_many_pixels_is_refused_from_its_header_before_decoding(tmp_path, image_settings):
    rows = image_rows(120)
    rows[0]["image"] = "images/bomb.png"  # claims 7,000 x 7,000 = 49 M pixels in 100 bytes
    rows[1]["image"] = "images/huge_bomb.png"  # beyond PIL's own limit
    extra = {
        "images/bomb.png": png_header_only(7_000, 7_000),
        "images/huge_bomb.png": png_header_only(100_000, 100_000),
    }
    csv_path, zip_path = upload(tmp_path, rows[2:], extra)
    write_dicts(csv_path, rows)
    report = validate_file(csv_path, image_settings(), images_zip=zip_path).report
    find_issue(report.errors, 2, "image", "7,000 x 7,000 = 49,000,000 pixels", "limit of 40,000,000")
    find_issue(report.errors, 3, "image", "too many pixels")


def test_image_url_is_refused_when_downloads_are_off(tmp_path, image_settings):
    rows = [{"image_url": f"https://example.com/{r['image']}", "animal": r["animal"]} for r in image_rows(120)]
    csv_path = write_dicts(tmp_path / "urls.csv", rows)
    report = validate_file(csv_path, image_settings()).report
    find_issue(report.errors, None, "image_url", "downloads are off")
    assert not report.valid


def test_image_url_must_be_http_when_downloads_are_allowed(tmp_path, image_settings):
    rows = [{"image_url": f"https://example.com/{r['image']}", "animal": r["animal"]} for r in image_rows(120)]
    rows[2]["image_url"] = "file:///etc/passwd"
    csv_path = write_dicts(tmp_path / "urls.csv", rows)
    result = validate_file(csv_path, image_settings(allow_downloads=True))
    find_issue(result.report.errors, 4, "image_url", "must be an http:// or https:// URL", "file:///etc/passwd")
    assert result.report.valid and result.table["image"].iloc[0] == "https://example.com/images/cat_0000.png"
    assert result.images_zip is None


def test_row_without_image_is_invalid(tmp_path, image_settings):
    rows = image_rows(120)
    csv_path, zip_path = upload(tmp_path, rows)
    rows[11]["image"] = ""
    write_dicts(csv_path, rows)
    report = validate_file(csv_path, image_settings(), images_zip=zip_path).report
    find_issue(report.errors, 13, "image", "no image")


def test_image_column_without_a_zip_is_a_file_error(tmp_path, image_settings):
    csv_path = write_dicts(tmp_path / "labels.csv", image_rows(120))
    report = validate_file(csv_path, image_settings()).report
    find_issue(report.errors, None, "image", "no images zip")


def test_image_heads_follow_the_class_rules(tmp_path, image_settings):
    rows = image_rows(120)
    for row in rows:
        row["indoor"] = "yes"
    rows[0]["animal"] = "axolotl"
    csv_path, zip_path = upload(tmp_path, rows)
    report = validate_file(csv_path, image_settings(), images_zip=zip_path).report
    find_issue(report.errors, None, "indoor", "head 'indoor' has 1 class")
    find_issue(report.errors, None, "animal", "class 'axolotl' of head 'animal' has 1 example")


def test_one_zip_with_the_csv_and_images_is_accepted(tmp_path, image_settings):
    rows = image_rows(120, folder="img")
    path = tmp_path / "upload.zip"
    write_dicts(tmp_path / "labels.csv", rows)
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(tmp_path / "labels.csv", "dataset/labels.csv")
        for row in rows:
            archive.writestr(f"dataset/{row['image']}", png_bytes())
        archive.writestr("__MACOSX/dataset/._labels.csv", b"junk")
    result = validate_file(path, image_settings())
    assert result.report.valid, result.report.summary()
    assert result.images_zip == path
    # Names in the CSV are relative to its folder; the table holds the zip's entry names.
    assert result.table["image"].iloc[0] == "dataset/img/cat_0000.png"
    extract_images(path, result.table["image"].tolist()[:3], tmp_path / "out")
    assert (tmp_path / "out" / "dataset/img/cat_0000.png").read_bytes() == png_bytes()


@pytest.mark.parametrize(("csvs", "fragment"), [(0, "holds no .csv file"), (2, "holds 2 .csv files")])
def test_one_zip_must_hold_exactly_one_csv(tmp_path, image_settings, csvs, fragment):
    path = tmp_path / "upload.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(csvs):
            archive.writestr(f"labels{i}.csv", "image,animal\n")
        archive.writestr("a.png", png_bytes())
    report = validate_file(path, image_settings()).report
    find_issue(report.errors, None, None, fragment)


def _zip_with(path, name, *, symlink=False):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("images/ok.png", png_bytes())
        info = zipfile.ZipInfo(name)
        if symlink:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd" if symlink else png_bytes())
    return path


@pytest.mark.parametrize(
    ("name", "symlink", "fragment"),
    [
        ("../evil.png", False, "goes up a folder"),
        ("images/../../evil.png", False, "goes up a folder"),
        ("/etc/evil.png", False, "absolute path"),
        ("C:/evil.png", False, "absolute path"),
        ("images/link.png", True, "symbolic link"),
    ],
)
def test_zip_with_an_unsafe_entry_is_refused_naming_it(tmp_path, image_settings, name, symlink, fragment):
    rows = image_rows(120)
    csv_path = write_dicts(tmp_path / "labels.csv", rows)
    zip_path = _zip_with(tmp_path / "images.zip", name, symlink=symlink)
    report = validate_file(csv_path, image_settings(), images_zip=zip_path).report
    issue = find_issue(report.errors, None, None, f"unsafe zip entry {name!r}", fragment)
    assert report.file_errors == [issue]
    with pytest.raises(InvalidInput, match="unsafe zip entry"):
        extract_images(zip_path, ["images/ok.png"], tmp_path / "out")
    assert not (tmp_path / "evil.png").exists()


def test_zip_that_would_unpack_too_large_is_refused(tmp_path, image_settings, monkeypatch):
    from jupyter_automl.datasets import zipfiles

    monkeypatch.setattr(zipfiles, "MAX_TOTAL_UNCOMPRESSED", 10_000)
    rows = image_rows(120)
    csv_path, zip_path = upload(tmp_path, rows, {"images/zeros.bin": b"\x00" * 20_000})
    report = validate_file(csv_path, image_settings(), images_zip=zip_path).report
    find_issue(report.errors, None, None, "would unpack to", "at most 10,000")


def test_images_file_that_is_not_a_zip_is_a_file_error(tmp_path, image_settings):
    csv_path = write_dicts(tmp_path / "labels.csv", image_rows(120))
    fake = tmp_path / "images.zip"
    fake.write_bytes(b"not a zip at all")
    report = validate_file(csv_path, image_settings(), images_zip=fake).report
    find_issue(report.errors, None, None, "not a readable zip file")


def test_missing_images_zip_raises_not_found(tmp_path, image_settings):
    csv_path = write_dicts(tmp_path / "labels.csv", image_rows(120))
    with pytest.raises(NotFound):
        validate_file(csv_path, image_settings(), images_zip=tmp_path / "nope.zip")


def test_extract_images_writes_only_the_named_entries(tmp_path):
    rows = image_rows(6)
    zip_path = write_images_zip(tmp_path / "images.zip", rows)
    dest = tmp_path / "out"
    extract_images(zip_path, [rows[0]["image"], rows[2]["image"], rows[0]["image"]], dest)
    written = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert written == sorted([rows[0]["image"], rows[2]["image"]])
    with pytest.raises(NotFound):
        extract_images(zip_path, ["images/unicorn.png"], dest)
