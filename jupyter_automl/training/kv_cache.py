"""A key/value cache layer for continuous batching (see ``decoding``): room to grow in place,
rows that join and leave."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers.cache_utils import DynamicLayer


def left_pad(tensor: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    """``tensor`` with zeros before its entries along ``dim`` up to ``length``."""
    missing = length - tensor.shape[dim]
    if missing <= 0:
        return tensor
    pad = [0, 0] * (tensor.dim() - 1 - dim % tensor.dim()) + [missing, 0]
    return F.pad(tensor, pad)


class RoomyLayer(DynamicLayer):
    """A cache layer whose keys and values are views of buffers with room for more tokens, so
    that a decode step writes its token in place: a ``DynamicLayer`` copies the whole cache
    (``torch.cat``) at every step. Rows joining or leaving make new buffers (one copy)."""

    @classmethod
    def holding(cls, keys: torch.Tensor, values: torch.Tensor) -> "RoomyLayer":
        layer = cls()
        layer.dtype, layer.device, layer.is_initialized = keys.dtype, keys.device, True
        layer._hold([(keys, values)], keys.shape[-2])
        return layer

    def _hold(self, blocks: list[tuple[torch.Tensor, torch.Tensor]], length: int) -> None:
        """New buffers for ``length`` tokens and room for more, holding the rows of ``blocks``
        (keys, values) one below the other, each right-aligned at ``length`` (zeros before a
        block shorter than that: its rows' padding)."""
        rows = sum(keys.shape[0] for keys, _ in blocks)
        size = length + max(32, length // 4)
        buffers = []
        for part in (0, 1):
            first = blocks[0][part]
            buffer = first.new_zeros((rows, first.shape[1], size, first.shape[-1]))
            row = 0
            for block in blocks:
                states = block[part]
                buffer[row:row + states.shape[0], :, length - states.shape[-2]:length] = states
                row += states.shape[0]
            buffers.append(buffer)
        self._keys, self._values = buffers
        self._show(length)

    def _show(self, length: int) -> None:
        self.keys, self.values = self._keys[:, :, :length], self._values[:, :, :length]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        used, extra = self.keys.shape[-2], key_states.shape[-2]
        if used + extra > self._keys.shape[-2]:
            self._hold([(self.keys, self.values)], used)
        self._keys[:, :, used:used + extra] = key_states
        self._values[:, :, used:used + extra] = value_states
        self._show(used + extra)
        return self.keys, self.values

    def join(self, keys: torch.Tensor, values: torch.Tensor, length: int) -> None:
        """Add rows below these, both left-padded to ``length`` tokens."""
        self._hold([(self.keys, self.values), (keys, values)], length)

    def keep(self, index: torch.Tensor, first: int = 0) -> None:
        """Keep the rows at ``index``, from token ``first`` on."""
        used = self.keys.shape[-2]
        self._keys, self._values = self._keys[index, :, first:], self._values[index, :, first:]
        self._show(used - first)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self.keep(indices)
