"""Data-parallel training: what the loop asks of the group of processes it runs in.

One training run may span several processes, one per GPU (``launcher.py`` starts them).
Every process holds the whole model and takes its share of each optimizer step's
micro-batches; after the backward passes, the gradients are summed across the group, so each
process applies the same update and the weights stay identical without ever being sent.

The gradients are reduced by hand rather than by a ``DistributedDataParallel`` wrapper: a task
calls its model in its own way (an LLM's backbone and its head in chunks, a classifier's
cached features), which such a wrapper's forward would not see. With gradient accumulation,
that is what the wrapper does too: one reduction per optimizer step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist

# Gradients are summed in buckets of at most this many elements (256 MB of float32), so a
# full fine-tune does not copy all its gradients at once.
BUCKET_ELEMENTS = 64 * 1024 * 1024


@dataclass(frozen=True)
class Group:
    """The processes of one run: this one is ``rank`` of ``size``; rank 0 evaluates and writes."""

    rank: int = 0
    size: int = 1

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def totals(self, values: list[float], device: torch.device) -> list[float]:
        """Each of ``values`` summed over the group, in one exchange."""
        if self.size == 1:
            return [float(v) for v in values]
        tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every process when ``flag`` is true on one of them."""
        return self.totals([1.0 if flag else 0.0], device)[0] > 0

    def leaders(self, flag: bool, device: torch.device) -> bool:
        """Rank 0's ``flag``, on every process (decisions only rank 0 can take: early stopping)."""
        if self.size == 1:
            return flag
        tensor = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
        dist.broadcast(tensor, src=0)
        return bool(tensor.item())

    def share(self, items: list) -> list:
        """This process's part of one step's micro-batches: every ``size``-th from ``rank``."""
        return items[self.rank :: self.size]

    def same_weights(self, module: torch.nn.Module) -> None:
        """Give every process rank 0's trainable weights and buffers (new heads and LoRA
        matrices start random)."""
        if self.size == 1:
            return
        with torch.no_grad():
            for p in module.parameters():
                if p.requires_grad:
                    dist.broadcast(p.data, src=0)
            for b in module.buffers():
                dist.broadcast(b, src=0)

    def sum_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        """Sum every parameter's gradient over the group, in flat buckets of one dtype.

        A process whose share of a step was empty (the last step of an epoch) adds zeros."""
        if self.size == 1:
            return
        buckets: list[list[torch.nn.Parameter]] = []
        filled: dict[torch.dtype, tuple[list[torch.nn.Parameter], int]] = {}
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            bucket, size = filled.get(p.grad.dtype, ([], 0))
            if not bucket or size + p.numel() > BUCKET_ELEMENTS:
                bucket, size = [], 0
                buckets.append(bucket)
            bucket.append(p)
            filled[p.grad.dtype] = (bucket, size + p.numel())
        for bucket in buckets:
            flat = torch.cat([p.grad.reshape(-1) for p in bucket])
            dist.all_reduce(flat)
            offset = 0
            for p in bucket:
                n = p.grad.numel()
                p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
                offset += n

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()


SINGLE = Group()
