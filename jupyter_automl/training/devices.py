"""Where a run computes and in which precision: CUDA when present (bf16 where it has it), else CPU."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InvalidInput


@dataclass(frozen=True)
class Placement:
    device: torch.device
    dtype: torch.dtype  # the dtype autocast computes in; weights stay float32 when training
    autocast: bool

    @property
    def label(self) -> str:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "CPU"
        return f"{name} ({str(self.dtype).removeprefix('torch.')})"


def choose_placement(precision: str = "auto", device: str | torch.device | None = None) -> Placement:
    """Pick the device and compute precision; ``precision`` is auto, fp32, bf16 or fp16."""
    dev = torch.device(device) if device is not None else (
        torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    )
    cuda = dev.type == "cuda"
    if precision == "auto":
        if cuda and torch.cuda.is_bf16_supported():
            return Placement(dev, torch.bfloat16, True)
        return Placement(dev, torch.float32, False)
    if precision == "fp32":
        return Placement(dev, torch.float32, False)
    if precision == "bf16":
        if cuda and not torch.cuda.is_bf16_supported():
            raise InvalidInput("precision: this GPU has no bf16; use fp16 or auto")
        return Placement(dev, torch.bfloat16, True)
    if precision == "fp16":
        if not cuda:
            raise InvalidInput("precision: fp16 needs a GPU; use auto or fp32 on the CPU")
        return Placement(dev, torch.float16, True)
    raise InvalidInput(f"precision: unknown value {precision!r}; use auto, fp32, bf16 or fp16")


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch so a CPU run repeats exactly."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
