"""Decoding and augmentation of training images (PIL and numpy only)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from jupyter_automl.base_models.loading import ImageBackbone
from jupyter_automl.training.images import (
    CROP_RATIO,
    CROP_SCALE,
    _crop_box,
    augment,
    crop_source,
    load_image,
    to_tensor,
)


def encoded(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def halves(width: int = 40, height: int = 30) -> Image.Image:
    """Left half red, right half blue: a flip swaps them."""
    image = Image.new("RGB", (width, height), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, width // 2, height))
    return image


# -- load_image ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "fmt", "pixel"),
    [
        (Image.new("RGBA", (6, 4), (255, 0, 0, 0)), "PNG", (255, 255, 255)),  # transparent: white
        (Image.new("RGBA", (6, 4), (255, 0, 0, 255)), "PNG", (255, 0, 0)),
        (Image.new("LA", (6, 4), (0, 0)), "PNG", (255, 255, 255)),
        (Image.new("LA", (6, 4), (10, 255)), "PNG", (10, 10, 10)),
        (Image.new("L", (6, 4), 128), "PNG", (128, 128, 128)),
        (Image.new("1", (6, 4), 1), "PNG", (255, 255, 255)),
        (Image.new("CMYK", (6, 4), (0, 255, 255, 0)), "JPEG", (255, 0, 0)),
        (Image.new("RGB", (6, 4), (1, 2, 3)), "BMP", (1, 2, 3)),
    ],
)
def test_any_mode_becomes_rgb(image, fmt, pixel):
    out = load_image(encoded(image, fmt))
    assert out.mode == "RGB" and out.size == image.size
    got = out.getpixel((1, 1))
    assert max(abs(a - b) for a, b in zip(got, pixel)) <= (3 if fmt == "JPEG" else 0)


def test_palette_images_with_and_without_transparency():
    plain = Image.new("P", (4, 4))
    plain.putpalette([0, 255, 0] * 256)
    assert load_image(encoded(plain)).getpixel((0, 0)) == (0, 255, 0)
    clear = Image.new("P", (4, 4))
    clear.putpalette([0, 0, 255] * 256)
    clear.info["transparency"] = 0
    out = load_image(encoded(clear))
    assert out.mode == "RGB" and out.getpixel((0, 0)) == (255, 255, 255)
    gif = load_image(encoded(plain, "GIF"))
    assert gif.mode == "RGB" and gif.getpixel((0, 0)) == (0, 255, 0)


def test_16_bit_and_float_images_scale_to_8_bit():
    values = (np.arange(60).reshape(6, 10) * 1000).astype(np.uint16)
    data = encoded(Image.fromarray(values))
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = np.asarray(load_image(data))
    assert out.dtype == np.uint8 and out.shape == (6, 10, 3)
    assert out[5, 9, 0] == round(59000 / 257) and out[0, 1, 0] == round(1000 / 257)
    floats = Image.fromarray(np.full((4, 4), 0.5, dtype=np.float32))
    assert load_image(floats).getpixel((0, 0)) == (128, 128, 128)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_is_applied(fmt):
    image = Image.new("RGB", (20, 10), (0, 0, 0))
    image.paste((255, 0, 0), (0, 0, 5, 10))  # red on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: turn 90 degrees clockwise to view
    out = load_image(encoded(image, fmt, exif=exif.tobytes()))
    assert out.size == (10, 20)
    top, bottom = out.getpixel((5, 1)), out.getpixel((5, 18))
    assert top[0] > 200 and top[1] < 30  # the left edge is now the top
    assert bottom[0] < 30


def test_sources_path_bytes_file_and_pil_agree(tmp_path):
    image = halves()
    path = tmp_path / "a.png"
    image.save(path)
    data = path.read_bytes()
    expected = np.asarray(image)
    for source in (path, str(path), data, io.BytesIO(data), Image.open(path)):
        assert np.array_equal(np.asarray(load_image(source)), expected)


def test_corrupt_and_truncated_files_raise(tmp_path):
    with pytest.raises(Exception):
        load_image(b"this is not an image")
    data = encoded(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG")
    with pytest.raises(Exception):
        load_image(data[: len(data) // 2])


def test_draft_decodes_big_jpegs_smaller_but_never_below_the_size():
    data = encoded(Image.new("RGB", (2000, 1500), (10, 20, 30)), "JPEG")
    small = load_image(data, draft_size=224)
    assert min(small.size) >= 224 and small.size[0] < 2000
    assert load_image(data).size == (2000, 1500)


def test_crop_source_keeps_aspect_and_room_for_crops():
    assert crop_source(Image.new("RGB", (2000, 1500)), 224).size == (344, 258)
    assert crop_source(Image.new("RGB", (20, 30)), 224).size == (20, 30)  # never enlarged
    wide = crop_source(Image.new("RGB", (3000, 300)), 224)
    assert wide.size[1] == 258 and wide.size[0] <= 2 * 258


# -- augment --------------------------------------------------------------------------------


def test_augment_shape_and_determinism():
    image = Image.effect_noise((60, 50), 40).convert("RGB")
    a = augment(image, 32, np.random.default_rng(7))
    b = augment(image, 32, np.random.default_rng(7))
    assert a.size == (32, 32) and a.mode == "RGB"
    assert np.array_equal(np.asarray(a), np.asarray(b))
    c = augment(image, 32, np.random.default_rng(8))
    assert not np.array_equal(np.asarray(a), np.asarray(c))


def test_flips_and_crops_vary_across_seeds():
    image = halves(64, 48)
    left_red = []
    for seed in range(40):
        out = np.asarray(augment(image, 32, np.random.default_rng(seed))).astype(int)
        left_red.append(out[:, 0, 0].mean() > out[:, 0, 2].mean())
    flipped = 40 - sum(left_red)
    assert 8 <= flipped <= 32  # p = 0.5: both happen, neither always
    boxes = {_crop_box(64, 48, np.random.default_rng(seed)) for seed in range(40)}
    assert len(boxes) > 30
    for x0, y0, x1, y1 in boxes:
        w, h = x1 - x0, y1 - y0
        assert 0 <= x0 and x1 <= 64 and 0 <= y0 and y1 <= 48
        assert CROP_SCALE[0] - 0.05 <= w * h / (64 * 48) <= CROP_SCALE[1]
        assert CROP_RATIO[0] - 0.05 <= w / h <= CROP_RATIO[1] + 0.05


def test_colour_jitter_is_mild():
    grey = Image.new("RGB", (40, 40), (128, 128, 128))
    means = [np.asarray(augment(grey, 16, np.random.default_rng(s))).mean() for s in range(30)]
    assert 128 * 0.75 < min(means) and max(means) < 128 * 1.25
    assert max(means) - min(means) > 5  # brightness does vary


# -- to_tensor ------------------------------------------------------------------------------


def test_to_tensor_shape_normalisation_and_preprocess_agree():
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    white = Image.new("RGB", (50, 30), (255, 255, 255))
    array = np.zeros((16, 16, 3), dtype=np.uint8)
    out = to_tensor([white, array], 16, mean, std)
    assert out.shape == (2, 3, 16, 16) and out.dtype == torch.float32
    for c in range(3):
        assert torch.allclose(out[0, c], torch.full((16, 16), (1 - mean[c]) / std[c]))
        assert torch.allclose(out[1, c], torch.full((16, 16), -mean[c] / std[c]))
    backbone = ImageBackbone(model=None, feature_dim=0, image_size=16, mean=mean, std=std)
    noise = Image.effect_noise((37, 23), 60).convert("RGB")
    assert torch.equal(to_tensor([noise], 16, mean, std), backbone.preprocess([noise]))
    assert to_tensor([], 16, mean, std).shape == (0, 3, 16, 16)
