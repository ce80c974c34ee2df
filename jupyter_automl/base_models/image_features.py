"""Image backbones reduced to a feature vector: the modules that training and serving share."""

from __future__ import annotations

from typing import Any

import torch


class EfficientNetFeatures(torch.nn.Module):
    """EfficientNet-Lite: stem, blocks and head convolution, global average pooling (1280)."""

    def __init__(self, net: Any) -> None:
        super().__init__()
        self.net = net

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.net.extract_features(pixel_values)
        return torch.flatten(self.net._avg_pooling(x), 1)


class PooledFeatures(torch.nn.Module):
    """A transformers encoder's pooled output, or its first token.

    ``use_pooler=False`` when the checkpoint had no weights for the encoder's learned pooler
    (a ``*ForImageClassification`` checkpoint loaded as ``AutoModel``): that pooler would be a
    random projection, so the first token is used, as the original classifier did.
    """

    def __init__(self, encoder: Any, *, use_pooler: bool = True) -> None:
        super().__init__()
        self.encoder = encoder
        self.use_pooler = use_pooler

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        out = self.encoder(pixel_values=pixel_values)
        pooled = getattr(out, "pooler_output", None) if self.use_pooler else None
        if pooled is None:
            pooled = out.last_hidden_state[:, 0]
        return torch.flatten(pooled, 1)
