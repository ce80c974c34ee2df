"""Image decoding and augmentation for image classification, with PIL and numpy only.

- :func:`load_image` turns any file PIL reads into an upright 8-bit RGB image: EXIF
  orientation applied, transparency flattened onto white, palette, greyscale, CMYK and 16-bit
  or float images converted.
- :func:`augment` is the training-time augmentation: a random resized crop (area 60-100 %,
  aspect 3/4 to 4/3), a horizontal flip half of the time and a mild brightness / contrast /
  saturation jitter (factors 0.8-1.2, in random order). Every random choice comes from the
  ``numpy`` generator it is given, so a seeded generator repeats it exactly.
- :func:`to_tensor` is the model input: resized to ``size`` x ``size`` (bicubic) and
  normalised, through :meth:`ImageBackbone.preprocess` so training and serving build pixels
  the same way.

No torchvision (it does not import beside the pinned torch here).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Union

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps

from ..base_models.loading import ImageBackbone

ImageInput = Union[Image.Image, bytes, bytearray, memoryview, str, os.PathLike, IO[bytes], np.ndarray]

CROP_SCALE = (0.6, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
FLIP_PROBABILITY = 0.5
JITTER = 0.2  # brightness, contrast and saturation factors in [1 - JITTER, 1 + JITTER]
RESAMPLE = Image.Resampling.BICUBIC
BACKGROUND = (255, 255, 255)  # transparent pixels are shown on white


def _to_8bit(image: Image.Image) -> Image.Image:
    """One-channel 16-bit, 32-bit integer or float images as 8-bit greyscale."""
    values = np.asarray(image)
    if values.dtype == np.uint8:
        return Image.fromarray(values, "L")
    values = values.astype(np.float64)
    finite = values[np.isfinite(values)]
    high = float(finite.max()) if finite.size else 0.0
    low = float(finite.min()) if finite.size else 0.0
    if np.issubdtype(np.asarray(image).dtype, np.floating) and low >= 0.0 and high <= 1.0:
        scaled = values * 255.0  # a float image in [0, 1]
    elif high <= 255 and low >= 0:
        scaled = values  # already in the 8-bit range (an "I" image of a plain PNG)
    elif low >= 0 and high <= 65535:
        scaled = values / 257.0  # 16-bit: 65535 -> 255
    else:
        scaled = (values - low) / max(high - low, 1e-12) * 255.0
    scaled = np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")


def to_rgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB copy of ``image``: alpha composited on white, every other mode converted."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _to_8bit(image).convert("RGB")
    if mode == "P":
        has_alpha = "transparency" in image.info or (
            image.palette is not None and image.palette.mode == "RGBA"
        )
        image = image.convert("RGBA" if has_alpha else "RGB")
        mode = image.mode
        if mode == "RGB":
            return image
    if mode in ("RGBa", "La", "PA"):
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "1":
        return image.convert("L").convert("RGB")
    if "transparency" in image.info and mode in ("L", "RGB"):
        return image.convert("RGBA").convert("RGB")
    return image.convert("RGB")


def load_image(source: ImageInput, *, draft_size: int | None = None) -> Image.Image:
    """Decode ``source`` (a path, bytes, a file object, a PIL image or an array) to upright RGB.

    The whole image is decoded here (``load``), so a truncated or corrupt file raises now
    rather than later. ``draft_size`` lets a JPEG decoder shrink by 1/2, 1/4 or 1/8 while it
    decodes, keeping both sides at least ``draft_size`` (a large speed-up on big photos);
    training and serving pass the same value so they see the same pixels.
    """
    if isinstance(source, np.ndarray):
        array = source
        if array.ndim == 2:
            return to_rgb(Image.fromarray(array))
        if array.ndim == 3 and array.shape[2] in (3, 4) and array.dtype == np.uint8:
            return to_rgb(Image.fromarray(array, "RGB" if array.shape[2] == 3 else "RGBA"))
        raise ValueError(f"an image array must be [h, w] or [h, w, 3|4] uint8, got {array.shape} {array.dtype}")
    if isinstance(source, Image.Image):
        image = source
        image.load()
    else:
        if isinstance(source, (bytes, bytearray, memoryview)):
            handle: Any = io.BytesIO(bytes(source))
        elif isinstance(source, (str, os.PathLike)):
            handle = Path(source)
        else:
            handle = source
        with Image.open(handle) as opened:
            if draft_size and opened.format == "JPEG":
                opened.draft(opened.mode if opened.mode in ("RGB", "L") else None,
                             (draft_size, draft_size))
            opened.load()
            return to_rgb(_upright(opened))
    return to_rgb(_upright(image))


def _upright(image: Image.Image) -> Image.Image:
    """``image`` turned as its EXIF orientation says (a copy; a broken EXIF block is ignored)."""
    try:
        upright = ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a broken EXIF block leaves the image as stored
        upright = None
    if upright is None:
        upright = image.copy()
    return upright


def crop_source(image: Image.Image, size: int, margin: float = 1.15) -> Image.Image:
    """A smaller copy to augment from: shorter side ``ceil(size * margin)``, aspect kept.

    Never enlarged; a very elongated image is squeezed so its longer side is at most twice
    its shorter side, which bounds the memory one cached image takes.
    """
    width, height = image.size
    short = math.ceil(size * margin)
    scale = short / min(width, height)
    if scale >= 1.0:
        new_w, new_h = width, height
    else:
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    shorter = min(new_w, new_h)
    new_w, new_h = min(new_w, 2 * shorter), min(new_h, 2 * shorter)
    if (new_w, new_h) == (width, height):
        return image
    return image.resize((new_w, new_h), RESAMPLE, reducing_gap=3.0)


def resize_square(image: Image.Image, size: int) -> Image.Image:
    """What evaluation and serving feed the model: the whole image, resized to size x size."""
    return image.resize((size, size), RESAMPLE)


def _crop_box(width: int, height: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A random area-and-aspect crop, as torchvision's RandomResizedCrop draws it."""
    area = width * height
    log_low, log_high = math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])
    for _ in range(10):
        target = area * rng.uniform(*CROP_SCALE)
        ratio = math.exp(rng.uniform(log_low, log_high))
        w = int(round(math.sqrt(target * ratio)))
        h = int(round(math.sqrt(target / ratio)))
        if 0 < w <= width and 0 < h <= height:
            x = int(rng.integers(0, width - w + 1))
            y = int(rng.integers(0, height - h + 1))
            return x, y, x + w, y + h
    # Fallback: the largest centred crop whose aspect is inside the range.
    ratio = width / height
    if ratio < CROP_RATIO[0]:
        w, h = width, int(round(width / CROP_RATIO[0]))
    elif ratio > CROP_RATIO[1]:
        h, w = height, int(round(height * CROP_RATIO[1]))
    else:
        w, h = width, height
    x, y = (width - w) // 2, (height - h) // 2
    return x, y, x + w, y + h


def augment(image: Image.Image, size: int, rng: np.random.Generator) -> Image.Image:
    """Random resized crop, horizontal flip and colour jitter; ``size`` x ``size`` RGB out."""
    image = to_rgb(image)
    box = _crop_box(*image.size, rng)
    out = image.resize((size, size), RESAMPLE, box=box)
    if rng.random() < FLIP_PROBABILITY:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    enhancers = (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color)
    factors = rng.uniform(1 - JITTER, 1 + JITTER, size=3)
    for k in rng.permutation(3):
        out = enhancers[k](out).enhance(float(factors[k]))
    return out


def _as_pil(image: Any) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return Image.fromarray(image, "RGB")
    return load_image(image)


def to_tensor(
    images: Sequence[Any], size: int, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """``[n, 3, size, size]`` float32, resized (bicubic) and normalised as ``(x/255 - mean)/std``.

    ``images`` are PIL images or ``[h, w, 3]`` uint8 arrays (anything else is decoded first).
    An image already ``size`` x ``size`` is not resampled again.
    """
    if len(images) == 0:
        return torch.zeros((0, 3, size, size), dtype=torch.float32)
    converter = ImageBackbone(
        model=None,
        feature_dim=0,
        image_size=int(size),
        mean=tuple(float(m) for m in mean),  # type: ignore[arg-type]
        std=tuple(float(s) for s in std),  # type: ignore[arg-type]
    )
    return converter.preprocess([_as_pil(image) for image in images])


__all__ = [
    "augment",
    "crop_source",
    "load_image",
    "resize_square",
    "to_rgb",
    "to_tensor",
]
