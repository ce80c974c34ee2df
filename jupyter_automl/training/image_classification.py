"""Image classification: a pretrained backbone's features, then one linear layer for every head.

The model is ``backbone -> dropout -> Linear(feature_dim, layout.width)``, the outputs of all
heads concatenated (see ``heads.py``). Three training methods:

- ``last_layer``: the backbone is frozen and stays in eval mode (BatchNorm statistics are
  kept). It runs without gradients, and with augmentation off each image's features are
  computed ONCE in :meth:`ImageClassificationTask.prepare` and the head trains on the cached
  features: an epoch then costs a few matrix products instead of a backbone pass per image, a
  large speed-up on a CPU. Validation and test features are cached the same way whatever the
  augmentation setting, since the frozen backbone never changes them.
- ``full``: every weight trains; the backbone is in train mode.
- ``lora``: peft LoRA adapters on a transformers backbone (``lora_targets``, default
  ``"all-linear"``) plus the head; the backbone's own weights stay as they were.
  EfficientNet-Lite has no LoRA (its registry entry does not list the method).

Images are decoded once, in ``prepare()``, several at a time: each becomes a small uint8 RGB
array kept in memory (up to ``max_cache_bytes``, 2 GB by default; the rest are decoded again
per batch). Training images with augmentation are kept a little larger than the input size
(shorter side 1.15 x ``image_size``) so random crops have room; everything else is kept
exactly as the model sees it. An image that does not decode makes its row invalid: it is left
out and reported with the reason, not a crash.

:class:`ImageClassifier` loads a saved model directory (no network) and answers ``predict``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from ..base_models.entry import BaseModelEntry
from ..base_models.image_features import EfficientNetFeatures, PooledFeatures
from ..base_models.loading import ImageBackbone, load_image_backbone
from ..errors import InvalidInput, NotFound
from ..evaluation import head_metrics
from .devices import Placement, seed_everything
from .heads import (
    HeadLayout,
    build_layout,
    encode_targets,
    head_probabilities,
    multi_head_loss,
    prediction_table,
    predictions_for,
)
from .images import augment, crop_source, load_image, resize_square, to_tensor
from .options import ResolvedOptions
from .task import Batch, Preparation, Task

MODEL_FORMAT = 1
HEAD_DROPOUT = 0.1
CROP_MARGIN = 1.15  # cached training images are this much larger than the input, for crops
DEFAULT_CACHE_BYTES = 2 * 1024**3
EVAL_BATCH = 64
FEATURE_CHUNK = 64
IMAGE_COLUMN = "image"
ITEM_KEYS = ("media", "image")  # where a request item that is a mapping holds its image


# -- modules ---------------------------------------------------------------------------------


class ImageClassificationModel(torch.nn.Module):
    """``backbone -> dropout -> head``; ``forward`` takes pixels, or precomputed features.

    With ``frozen_backbone`` the backbone runs without gradients and stays in eval mode even
    when the model is put in train mode (BatchNorm statistics and dropout stay as pretrained).
    """

    def __init__(
        self, backbone: torch.nn.Module, feature_dim: int, width: int, *,
        dropout: float = HEAD_DROPOUT, frozen_backbone: bool = False,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(feature_dim, width)
        self.frozen_backbone = frozen_backbone
        if frozen_backbone:
            self.backbone.requires_grad_(False)
            self.backbone.eval()

    def features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if self.frozen_backbone:
            with torch.no_grad():
                return self.backbone(pixel_values)
        return self.backbone(pixel_values)

    def forward(
        self, pixel_values: torch.Tensor | None = None, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        if features is None:
            if pixel_values is None:
                raise ValueError("give pixel_values or features")
            features = self.features(pixel_values)
        return self.head(self.dropout(features))

    def train(self, mode: bool = True) -> "ImageClassificationModel":
        super().train(mode)
        if self.frozen_backbone:
            self.backbone.eval()
        return self


def _init_head(head: torch.nn.Linear, seed: int) -> None:
    """``nn.Linear``'s own initialisation, drawn from a generator of its own (same every run)."""
    generator = torch.Generator().manual_seed(int(seed))
    bound = 1.0 / math.sqrt(head.in_features)
    with torch.no_grad():
        head.weight.uniform_(-bound, bound, generator=generator)
        head.bias.uniform_(-bound, bound, generator=generator)


def _framework(entry_or_framework: BaseModelEntry | str) -> str:
    value = getattr(entry_or_framework, "framework", entry_or_framework)
    return "efficientnet_lite" if value == "efficientnet_lite" else "transformers"


# -- decoding --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchSpec:
    """One training batch: the epoch (it seeds augmentation) and positions in the train split."""

    epoch: int
    indices: tuple[int, ...]


@dataclass
class _Split:
    rows: list[Any] = field(default_factory=list)  # the row ids (spreadsheet rows)
    paths: list[Path] = field(default_factory=list)
    targets: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    mode: str = "final"  # "crop" (augmented training), "final" (as the model sees it), "features"
    pixels: list[np.ndarray | None] = field(default_factory=list)
    features: torch.Tensor | None = None


def _workers(n: int | None) -> int:
    if n is not None:
        return max(1, int(n))
    return max(1, min(8, os.cpu_count() or 1))


def _parallel(fn: Callable[[Any], Any], items: Sequence[Any], workers: int) -> list[Any]:
    """``[fn(x) for x in items]`` on a few threads (PIL decodes and resizes without the GIL)."""
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


def _decode(path: Path, mode: str, size: int) -> np.ndarray:
    """The uint8 ``[h, w, 3]`` array kept for one image in ``mode``."""
    if mode == "crop":
        image = load_image(path, draft_size=math.ceil(size * CROP_MARGIN))
        return np.asarray(crop_source(image, size, CROP_MARGIN))
    image = load_image(path, draft_size=size)
    return np.asarray(resize_square(image, size))


def _try_decode(path: Path, mode: str, size: int) -> tuple[np.ndarray | None, str | None]:
    if not path.is_file():
        return None, f"image file not found: {path.name}"
    try:
        return _decode(path, mode, size), None
    except Image.DecompressionBombError as error:
        return None, f"image has too many pixels (a decompression bomb?): {error}"
    except Exception as error:  # noqa: BLE001 - any decoder failure makes the row invalid
        return None, f"image does not decode: {type(error).__name__}: {error}"


def _image_name(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _safe_path(folder: Path, name: str) -> Path | None:
    """``folder / name``, refused when the name climbs out of the folder."""
    path = (folder / name)
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return None
    return path


# -- the task --------------------------------------------------------------------------------


class ImageClassificationTask(Task):
    """Fine-tunes an image backbone with one linear head per label column (DESIGN §3-6).

    ``image_dirs`` says where each split's images live (``{"train", "validation", "test"}``);
    validation rows usually come from the training snapshot. ``cache_features=False`` turns
    off the feature cache of ``last_layer`` training (for comparisons); ``max_cache_bytes``
    bounds the decoded images kept in memory.
    """

    def __init__(
        self,
        options: ResolvedOptions,
        placement: Placement,
        *,
        image_dirs: Mapping[str, str | os.PathLike[str]],
        heads: Mapping[str, Sequence[str]],
        cache_features: bool = True,
        max_cache_bytes: int = DEFAULT_CACHE_BYTES,
        decode_workers: int | None = None,
        **data: Any,
    ) -> None:
        super().__init__(options, placement, **data)
        entry = self.entry
        if options.method == "lora" and _framework(entry) != "transformers":
            raise InvalidInput(
                f"method: base model {entry.name!r} ({entry.framework}) has no LoRA; "
                "use last_layer or full"
            )
        if entry.builtin_heads:
            raise InvalidInput(
                f"base model {entry.name!r} has built-in heads; keeping the built-in heads of an "
                "image moderation model is not supported yet"
            )
        missing = [s for s in self.tables if s not in image_dirs]
        if missing:
            raise InvalidInput(f"image_dirs needs a folder for {', '.join(missing)}")
        self.image_dirs = {k: Path(v) for k, v in image_dirs.items()}
        self.layout: HeadLayout = build_layout({h: list(c) for h, c in heads.items()})
        self.cache_features = cache_features
        self.max_cache_bytes = int(max_cache_bytes)
        self.workers = _workers(decode_workers)
        self.splits: dict[str, _Split] = {}
        self.backbone: ImageBackbone | None = None
        self.image_size = 0
        self.mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.std: tuple[float, float, float] = (1.0, 1.0, 1.0)
        self._cached_bytes = 0
        self.last_probabilities: dict[str, np.ndarray] | None = None
        self.last_split: str | None = None

    # -- set-up ---------------------------------------------------------------------------

    @property
    def _net(self) -> ImageClassificationModel:
        assert isinstance(self.model, ImageClassificationModel), "call prepare() first"
        return self.model

    def _build_model(self, backbone: ImageBackbone) -> ImageClassificationModel:
        method = self.options.method
        features: torch.nn.Module = backbone.model
        if method == "lora":
            from peft import LoraConfig, get_peft_model

            config = LoraConfig(
                r=self.options.lora_r,
                lora_alpha=self.options.lora_alpha,
                lora_dropout=self.options.lora_dropout,
                target_modules=self.options.lora_targets,
            )
            features.encoder = get_peft_model(features.encoder, config)
        elif method == "full":
            features.requires_grad_(True)
        model = ImageClassificationModel(
            features, backbone.feature_dim, self.layout.width,
            frozen_backbone=method == "last_layer",
        )
        _init_head(model.head, self.options.seed)
        return model

    def _mode(self, split: str) -> str:
        if split == "train" and self.options.augment:
            return "crop"
        if self.options.method == "last_layer" and self.cache_features:
            return "features"
        return "final"

    def _autocast(self):
        if self.placement.autocast:
            return torch.autocast(self.placement.device.type, dtype=self.placement.dtype)
        return nullcontext()

    def prepare(self) -> Preparation:
        seed_everything(self.options.seed)
        started = time.perf_counter()
        backbone = load_image_backbone(self.entry, cache_dir=self.cache_dir)
        self.backbone = backbone
        self.image_size = int(backbone.image_size)
        self.mean = tuple(float(m) for m in backbone.mean)  # type: ignore[assignment]
        self.std = tuple(float(s) for s in backbone.std)  # type: ignore[assignment]
        self.model = self._build_model(backbone).to(self.placement.device)
        load_seconds = time.perf_counter() - started

        invalid: list[dict[str, Any]] = []
        summary: dict[str, Any] = {
            "image_size": self.image_size,
            "method": self.options.method,
            "augment": self.options.augment,
            "feature_cache": self._mode("validation") == "features",
            "backbone_load_seconds": round(load_seconds, 3),
        }
        decoded = 0
        decode_seconds = feature_seconds = 0.0
        self._cached_bytes = 0
        for split, table in self.tables.items():
            split_started = time.perf_counter()
            part, left_out, seconds = self._prepare_split(split, table)
            decoded += len(set(part.paths)) + len(left_out)
            feature_seconds += seconds
            decode_seconds += time.perf_counter() - split_started - seconds
            self.splits[split] = part
            if split == "test":
                summary["test_rows_left_out"] = left_out
            else:
                invalid += left_out
            summary[split] = {
                "rows": len(table),
                "images": len(part.rows),
                "cached": sum(p is not None for p in part.pixels) if part.mode != "features" else 0,
                "mode": part.mode,
            }
        rows = len(self.tables["train"]) + len(self.tables["validation"])
        if not self.splits["train"].rows:
            return Preparation(rows=rows, invalid_rows=invalid, summary=summary, training_rows=0)
        summary["decoded_images"] = decoded
        summary["decode_seconds"] = round(decode_seconds, 3)
        summary["decode_images_per_second"] = round(decoded / decode_seconds, 1) if decode_seconds else None
        summary["feature_seconds"] = round(feature_seconds, 3)
        summary["cached_megabytes"] = round(self._cached_bytes / 2**20, 1)
        summary["batches_per_epoch"] = len(self.train_batches(0))
        return Preparation(rows=rows, invalid_rows=invalid, summary=summary,
                           training_rows=len(self.splits["train"].rows))

    def _prepare_split(self, split: str, table: pd.DataFrame) -> tuple[_Split, list[dict[str, Any]], float]:
        """Decode one split's images once; leave out rows whose image is unusable."""
        mode = self._mode(split)
        folder = self.image_dirs[split]
        if len(table) and IMAGE_COLUMN not in table.columns:
            raise InvalidInput(f"the {split} rows have no {IMAGE_COLUMN!r} column")
        targets = encode_targets(self.layout, table) if len(table) else np.zeros((0, len(self.layout)), np.int64)
        row_ids = list(table["row"]) if "row" in table.columns else list(range(len(table)))
        names = list(table[IMAGE_COLUMN]) if len(table) else []
        reasons: dict[int, str] = {}
        paths: list[Path | None] = []
        for r, value in enumerate(names):
            name = _image_name(value)
            path = _safe_path(folder, name) if name else None
            if name is None:
                reasons[r] = "no image named in the 'image' column"
            elif path is None:
                reasons[r] = f"image name {name!r} points outside the images folder"
            paths.append(path)
        unique = sorted({p for r, p in enumerate(paths) if r not in reasons and p is not None})

        arrays: dict[Path, np.ndarray | None] = {}
        errors: dict[Path, str] = {}
        features: dict[Path, torch.Tensor] = {}
        feature_seconds = 0.0
        chunk = FEATURE_CHUNK if mode == "features" else max(256, FEATURE_CHUNK)
        for start in range(0, len(unique), chunk):
            group = unique[start : start + chunk]
            results = _parallel(lambda p: _try_decode(p, mode, self.image_size), group, self.workers)
            good: list[tuple[Path, np.ndarray]] = []
            for path, (array, error) in zip(group, results):
                if error is not None:
                    errors[path] = error
                else:
                    good.append((path, array))
            if mode == "features":
                if good:
                    t0 = time.perf_counter()
                    out = self._features_of([a for _, a in good])
                    feature_seconds += time.perf_counter() - t0
                    for (path, _), vector in zip(good, out):
                        features[path] = vector
                continue
            for path, array in good:
                if self._cached_bytes + array.nbytes <= self.max_cache_bytes:
                    arrays[path] = array
                    self._cached_bytes += array.nbytes
                else:
                    arrays[path] = None  # decodes, but does not fit: decoded again per batch

        part = _Split(mode=mode)
        keep: list[int] = []
        left_out: list[dict[str, Any]] = []
        for r, path in enumerate(paths):
            reason = reasons.get(r) or (errors.get(path) if path is not None else None)
            if reason is not None:
                left_out.append({"row": _plain(row_ids[r]), "reason": reason, "split": split})
                continue
            keep.append(r)
            part.rows.append(_plain(row_ids[r]))
            part.paths.append(path)  # type: ignore[arg-type]
        part.targets = targets[keep] if len(keep) else np.zeros((0, len(self.layout)), np.int64)
        if mode == "features":
            dim = self._net.head.in_features
            part.features = (
                torch.stack([features[p] for p in part.paths]) if part.paths
                else torch.zeros((0, dim), dtype=torch.float32)
            )
        else:
            part.pixels = [arrays.get(p) for p in part.paths]
        return part, left_out, feature_seconds

    @torch.no_grad()
    def _features_of(self, arrays: Sequence[np.ndarray]) -> torch.Tensor:
        """Backbone features of final-size images, float32 on the CPU."""
        net = self._net
        was_training = net.training
        net.eval()
        pixels = to_tensor(arrays, self.image_size, self.mean, self.std).to(self.placement.device)
        with self._autocast():
            out = net.features(pixels)
        net.train(was_training)
        return out.float().cpu()

    # -- batches --------------------------------------------------------------------------

    def train_batches(self, epoch: int) -> list[BatchSpec]:
        n = len(self.splits["train"].rows) if self.splits else 0
        order = np.random.default_rng([self.options.seed, epoch]).permutation(n)
        size = self.options.batch_size
        return [
            BatchSpec(epoch, tuple(int(i) for i in order[s : s + size])) for s in range(0, n, size)
        ]

    def _arrays(self, part: _Split, indices: Sequence[int]) -> list[np.ndarray]:
        """The kept arrays of ``indices``, decoding again those that did not fit in memory."""
        todo = [i for i in indices if part.pixels[i] is None]
        fresh = dict(zip(todo, _parallel(
            lambda i: _decode(part.paths[i], part.mode, self.image_size), todo, self.workers
        )))
        return [part.pixels[i] if part.pixels[i] is not None else fresh[i] for i in indices]

    def _augmented(self, part: _Split, epoch: int, indices: Sequence[int]) -> list[np.ndarray]:
        arrays = self._arrays(part, indices)

        def one(item: tuple[int, np.ndarray]) -> np.ndarray:
            i, array = item
            rng = np.random.default_rng([self.options.seed, epoch, i])
            return np.asarray(augment(Image.fromarray(array, "RGB"), self.image_size, rng))

        return _parallel(one, list(zip(indices, arrays)), self.workers)

    def _targets(self, part: _Split, indices: Sequence[int]) -> torch.Tensor:
        return torch.as_tensor(part.targets[list(indices)], dtype=torch.long)

    def load_batch(self, spec: BatchSpec | Sequence[int]) -> Batch:
        if not isinstance(spec, BatchSpec):
            spec = BatchSpec(0, tuple(int(i) for i in spec))
        part = self.splits["train"]
        indices = list(spec.indices)
        device = self.placement.device
        targets = self._targets(part, indices)
        if part.mode == "features":
            assert part.features is not None
            inputs: dict[str, Any] = {"features": part.features[indices].to(device)}
        else:
            if part.mode == "crop":
                arrays = self._augmented(part, spec.epoch, indices)
            else:
                arrays = self._arrays(part, indices)
            pixels = to_tensor(arrays, self.image_size, self.mean, self.std)
            inputs = {"pixel_values": pixels.to(device, non_blocking=True)}
        inputs["targets"] = targets.to(device)
        count = int((targets >= 0).sum())
        return Batch(inputs=inputs, count=count, samples=len(indices))

    def loss_sum(self, inputs: dict[str, Any]) -> torch.Tensor:
        logits = self._net(pixel_values=inputs.get("pixel_values"), features=inputs.get("features"))
        loss, _ = multi_head_loss(self.layout, logits, inputs["targets"])
        return loss

    # -- evaluation -----------------------------------------------------------------------

    @torch.no_grad()
    def logits(self, split: str) -> torch.Tensor:
        """``[rows, width]`` float32 logits of a split's usable rows, no augmentation, eval mode."""
        net = self._net
        part = self.splits[split]
        was_training = net.training
        net.eval()
        try:
            out: list[torch.Tensor] = []
            n = len(part.rows)
            if part.mode == "features":
                assert part.features is not None
                for s in range(0, n, 4096):
                    with self._autocast():
                        out.append(net(features=part.features[s : s + 4096].to(self.placement.device)).float())
            else:
                for s in range(0, n, EVAL_BATCH):
                    indices = list(range(s, min(n, s + EVAL_BATCH)))
                    if part.mode == "crop":  # training images kept for crops: decode as served
                        arrays = _parallel(
                            lambda i: _decode(part.paths[i], "final", self.image_size), indices, self.workers
                        )
                    else:
                        arrays = self._arrays(part, indices)
                    pixels = to_tensor(arrays, self.image_size, self.mean, self.std)
                    with self._autocast():
                        out.append(net(pixel_values=pixels.to(self.placement.device)).float())
            if not out:
                return torch.zeros((0, self.layout.width), dtype=torch.float32)
            return torch.cat(out).cpu()
        finally:
            net.train(was_training)

    def probabilities(self, split: str) -> dict[str, np.ndarray]:
        """``{head: [rows, classes]}`` for a split's usable rows, in ``splits[split].rows`` order."""
        return head_probabilities(self.layout, self.logits(split))

    def evaluate(self, split: str) -> dict[str, Any]:
        part = self.splits[split]
        logits = self.logits(split)
        targets = torch.as_tensor(part.targets, dtype=torch.long).reshape(len(part.rows), len(self.layout))
        total, count = multi_head_loss(self.layout, logits, targets)
        self.last_probabilities = head_probabilities(self.layout, logits)
        self.last_split = split
        return _metrics(self.layout, logits, part.targets, count, float(total))

    def test_predictions(self) -> pd.DataFrame:
        """The usable test rows as the last ``evaluate("test")`` scored them (its probabilities,
        not a second pass), so they are the rows behind its confusion matrices; ``input`` is the
        image's name as the ``image`` column gives it."""
        if self.last_split != "test" or self.last_probabilities is None:
            raise RuntimeError("test_predictions: call evaluate('test') first")
        part = self.splits["test"]
        folder = self.image_dirs["test"]
        names = [path.relative_to(folder).as_posix() for path in part.paths]
        return prediction_table(
            self.layout, self.last_probabilities, part.targets, rows=part.rows, inputs=names
        )

    # -- checkpoints ----------------------------------------------------------------------

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Full fine-tuning keeps the buffers too (BatchNorm running statistics change)."""
        if self.options.method != "full":
            return super().trainable_state()
        return {k: v.detach().to("cpu", copy=True) for k, v in self._net.state_dict().items()}

    # -- saving ---------------------------------------------------------------------------

    def save(self, model_dir: Path) -> dict[str, Any]:
        """``automl.json``, the backbone and ``head.safetensors``; returns ``automl.json``'s data.

        transformers backbones are saved with ``save_pretrained`` in ``backbone/`` (LoRA
        adapters merged first); EfficientNet-Lite as ``backbone.safetensors`` (its state dict).
        """
        from safetensors.torch import save_file

        net = self._net
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        framework = _framework(self.entry)
        info: dict[str, Any] = {
            "format": MODEL_FORMAT,
            "framework": self.entry.framework,
            "kind": "image_classification",
            "backbone": framework,
            "base_model": self.entry.name,
            "method": self.options.method,
            "heads": self.layout.to_json(),
            "image_size": self.image_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "feature_dim": int(net.head.in_features),
        }
        backbone = net.backbone
        if framework == "transformers":
            assert isinstance(backbone, PooledFeatures)
            encoder = backbone.encoder
            if hasattr(encoder, "merge_and_unload"):  # a peft model: fold the adapters in
                encoder = encoder.merge_and_unload()
                backbone.encoder = encoder
            encoder.save_pretrained(model_dir / "backbone")
            info["use_pooler"] = backbone.use_pooler
        else:
            assert isinstance(backbone, EfficientNetFeatures)
            info["architecture"] = self.backbone.extra.get("architecture") if self.backbone else None
            save_file(_cpu_state(backbone.net.state_dict()), str(model_dir / "backbone.safetensors"))
        save_file(_cpu_state(net.head.state_dict()), str(model_dir / "head.safetensors"))
        (model_dir / "automl.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
        return info


def _cpu_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").float().contiguous().clone() if v.is_floating_point()
            else v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _metrics(
    layout: HeadLayout, logits: torch.Tensor, targets: np.ndarray, count: int, total: float
) -> dict[str, Any]:
    """DESIGN §6 metrics of one split: mean loss per labelled (row, head) pair, and per head."""
    probs = head_probabilities(layout, logits)
    heads: dict[str, Any] = {}
    for h, head in enumerate(layout):
        column = targets[:, h] if len(targets) else np.zeros(0, dtype=np.int64)
        truth = [head.classes[t] if t >= 0 else None for t in column]
        scores = probs[head.name] if len(truth) else np.zeros((0, len(head.classes)))
        heads[head.name] = head_metrics(truth, scores, head.classes)
    return {
        "loss": total / count if count else None,
        "heads": heads,
        "rows": int(len(targets)),
        "labelled_pairs": int(count),
    }


# -- serving ---------------------------------------------------------------------------------


class ImageClassifier:
    """A saved image classifier, rebuilt offline: ``predict(images)`` scores every class."""

    def __init__(
        self, model: ImageClassificationModel, layout: HeadLayout, info: Mapping[str, Any],
        device: torch.device,
    ) -> None:
        self.model = model
        self.layout = layout
        self.info = dict(info)
        self.device = device
        self.image_size = int(info["image_size"])
        self.mean = tuple(float(m) for m in info["mean"])
        self.std = tuple(float(s) for s in info["std"])

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str], device: str | torch.device | None = None) -> "ImageClassifier":
        from safetensors.torch import load_file

        model_dir = Path(model_dir)
        meta = model_dir / "automl.json"
        if not meta.is_file():
            raise NotFound(f"{str(model_dir)!r} is not a saved image classifier (no automl.json)")
        info = json.loads(meta.read_text(encoding="utf-8"))
        if info.get("kind") != "image_classification":
            raise InvalidInput(f"{str(model_dir)!r} holds a {info.get('kind')!r} model, not image_classification")
        dev = torch.device(device) if device is not None else torch.device(
            "cuda" if torch.cuda.is_available() else "cpu"
        )
        layout = HeadLayout.from_json(info["heads"])
        features: torch.nn.Module
        if info.get("backbone") == "efficientnet_lite":
            try:
                from efficientnet_lite_pytorch import EfficientNet
            except ImportError as error:
                raise InvalidInput(
                    "this model needs the efficientnet-lite-pytorch package: "
                    "pip install efficientnet-lite-pytorch==0.1.0"
                ) from error
            net = EfficientNet.from_name(info["architecture"], num_classes=1000)
            net.load_state_dict(load_file(str(model_dir / "backbone.safetensors")), strict=True)
            features = EfficientNetFeatures(net)
        else:
            from transformers import AutoModel

            encoder = AutoModel.from_pretrained(
                str(model_dir / "backbone"), local_files_only=True, dtype=torch.float32
            )
            features = PooledFeatures(encoder, use_pooler=info.get("use_pooler", True))
        model = ImageClassificationModel(features, int(info["feature_dim"]), layout.width)
        model.head.load_state_dict(load_file(str(model_dir / "head.safetensors")))
        model.to(dev).eval()
        return cls(model, layout, info, dev)

    def _autocast(self):
        if self.device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    @property
    def heads(self) -> dict[str, list[str]]:
        return {h.name: list(h.classes) for h in self.layout}

    def _input(self, index: int, item: Any) -> Image.Image:
        """One request item, decoded and resized as evaluation did; errors name the item."""
        if isinstance(item, Mapping):
            found = [k for k in ITEM_KEYS if item.get(k) is not None]
            if not found:
                raise InvalidInput(f"item {index}: give the image as one of {', '.join(ITEM_KEYS)}")
            item = item[found[0]]
        try:
            image = load_image(item, draft_size=self.image_size)
        except (OSError, ValueError, TypeError, Image.DecompressionBombError) as error:
            raise InvalidInput(f"item {index}: the image does not decode: {error}") from None
        return resize_square(image, self.image_size)

    @torch.no_grad()
    def logits(self, images: Sequence[Any], batch_size: int = EVAL_BATCH) -> torch.Tensor:
        """``[n, width]`` logits; ``images`` are PIL images, bytes, paths or file objects (or
        mappings holding one under ``media`` or ``image``)."""
        out: list[torch.Tensor] = []
        for s in range(0, len(images), batch_size):
            group = [self._input(s + k, image) for k, image in enumerate(images[s : s + batch_size])]
            pixels = to_tensor(group, self.image_size, self.mean, self.std).to(self.device)
            with self._autocast():
                out.append(self.model(pixel_values=pixels).float().cpu())
        if not out:
            return torch.zeros((0, self.layout.width), dtype=torch.float32)
        return torch.cat(out)

    def probabilities(self, images: Sequence[Any]) -> dict[str, np.ndarray]:
        return head_probabilities(self.layout, self.logits(images))

    def predict(self, images: Sequence[Any], top_k: int | None = None) -> list[dict[str, list[dict[str, Any]]]]:
        """For each image and head, every class with its score (highest first)."""
        return predictions_for(self.layout, self.probabilities(list(images)), top_k=top_k)

    def evaluate(self, data: Any) -> dict[str, Any]:
        """Metrics on every usable row of a snapshot: a ``SnapshotData`` (or anything with
        ``rows`` and ``images``), or a snapshot directory. Rows whose image does not decode are
        left out and listed under ``rows_left_out``."""
        if not (hasattr(data, "rows") and hasattr(data, "images")):
            from .run import SnapshotData

            data = SnapshotData.load(data)
        table: pd.DataFrame = data.rows.reset_index(drop=True)
        folder = Path(data.images)
        targets = encode_targets(self.layout, table) if len(table) else np.zeros((0, len(self.layout)), np.int64)
        row_ids = list(table["row"]) if "row" in table.columns else list(range(len(table)))
        names = list(table[IMAGE_COLUMN]) if len(table) else []
        keep: list[int] = []
        left_out: list[dict[str, Any]] = []
        parts: list[torch.Tensor] = []

        def decode(r: int) -> tuple[np.ndarray | None, str | None]:
            name = _image_name(names[r])
            path = _safe_path(folder, name) if name else None
            if path is None:
                return None, "no usable image name"
            return _try_decode(path, "final", self.image_size)

        for start in range(0, len(names), 4 * EVAL_BATCH):  # a bounded number in memory at once
            chunk = list(range(start, min(len(names), start + 4 * EVAL_BATCH)))
            good = []
            for r, (array, reason) in zip(chunk, _parallel(decode, chunk, _workers(None))):
                if reason is not None:
                    left_out.append({"row": _plain(row_ids[r]), "reason": reason})
                else:
                    keep.append(r)
                    good.append(Image.fromarray(array, "RGB"))
            if good:
                parts.append(self.logits(good))
        logits = torch.cat(parts) if parts else torch.zeros((0, self.layout.width), dtype=torch.float32)
        kept = targets[keep] if keep else np.zeros((0, len(self.layout)), np.int64)
        total, count = multi_head_loss(self.layout, logits, torch.as_tensor(kept, dtype=torch.long))
        metrics = _metrics(self.layout, logits, kept, count, float(total))
        if left_out:
            metrics["rows_left_out"] = left_out
        return metrics


__all__ = [
    "BatchSpec",
    "EfficientNetFeatures",
    "ImageClassificationModel",
    "ImageClassificationTask",
    "ImageClassifier",
    "PooledFeatures",
]
