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
    """A cache layer whose keys and values are views of buffers with room for more tokens and
    more rows, so that the cache is copied only when a buffer is full:

    - a decode step writes its token in place (a ``DynamicLayer`` copies the whole cache with
      ``torch.cat`` at every step);
    - rows that join go into free rows when they fit the current length;
    - rows that leave are replaced by the last rows (:meth:`keep`), and the leading columns
      that no row needs any more are cut from the view.

    The buffers are (rows, heads, tokens, dim); rows ``[0, count)`` are in use, and their tokens
    are columns ``[start, start + length)``."""

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
            buffer = first.new_zeros((rows + max(4, rows), first.shape[1], size, first.shape[-1]))
            row = 0
            for block in blocks:
                states = block[part]
                buffer[row:row + states.shape[0], :, length - states.shape[-2]:length] = states
                row += states.shape[0]
            buffers.append(buffer)
        self._keys, self._values = buffers
        self.count, self.start = rows, 0
        self._show(length)

    def _show(self, length: int) -> None:
        self.length = length
        columns = slice(self.start, self.start + length)
        self.keys, self.values = self._keys[:self.count, :, columns], self._values[:self.count, :, columns]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        extra = key_states.shape[-2]
        if self.start + self.length + extra > self._keys.shape[-2]:
            self._hold([(self.keys, self.values)], self.length)
        end = self.start + self.length
        self._keys[:self.count, :, end:end + extra] = key_states
        self._values[:self.count, :, end:end + extra] = value_states
        self._show(self.length + extra)
        return self.keys, self.values

    def join(self, keys: torch.Tensor, values: torch.Tensor, length: int) -> None:
        """Add rows below these, both left-padded to ``length`` tokens: into free rows when
        there are enough and ``length`` is the current one, else into new buffers."""
        new, tokens = keys.shape[0], keys.shape[-2]
        if length != self.length or self.count + new > self._keys.shape[0]:
            self._hold([(self.keys, self.values), (keys, values)], length)
            return
        rows = slice(self.count, self.count + new)
        pad, end = self.start + length - tokens, self.start + length
        for buffer, states in ((self._keys, keys), (self._values, values)):
            buffer[rows, :, self.start:pad] = 0
            buffer[rows, :, pad:end] = states
        self.count += new
        self._show(length)

    def keep(self, order: list[int], first: int = 0) -> None:
        """Keep the rows that ``order`` lists, in that order, from token ``first`` on. Only the
        rows whose place changes are copied (see :func:`fill_holes`)."""
        moves = [(place, row) for place, row in enumerate(order) if place != row]
        if moves:
            to = torch.tensor([place for place, _ in moves], device=self._keys.device)
            source = torch.tensor([row for _, row in moves], device=self._keys.device)
            columns = slice(self.start, self.start + self.length)
            for buffer in (self._keys, self._values):
                buffer[to, :, columns] = buffer[source, :, columns]
        self.count, self.start = len(order), self.start + first
        self._show(self.length - first)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._hold([(self.keys[indices], self.values[indices])], self.length)


def fill_holes(kept: list[int]) -> list[int]:
    """The order of the rows left when only ``kept`` (ascending) stay: each row that left and is
    not among the last ones is replaced by one of the last rows, the rest stay where they are."""
    count, staying = len(kept), set(kept)
    movers = iter(row for row in kept if row >= count)
    return [row if row in staying else next(movers) for row in range(count)]
