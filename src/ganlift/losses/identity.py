"""Identity preservation (paper eq. 6): a frozen face-embedding network, any timm model."""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ganlift.losses import register
from ganlift.losses._weights import load_strict, read_state_dict
from ganlift.losses.base import LossTerm

__all__ = ["Identity", "load_embedding_network"]

MISSING_IDENTITY_HELP = (
    "the identity loss (losses.identity) needs a face-embedding network's weights: set "
    "losses.identity.weights = \"/path/to/face_embedding.safetensors\" (a state dict of the "
    "timm model losses.identity.model with num_classes = losses.identity.embedding_dim; e.g. "
    "`--set losses.identity.weights=PATH`), or switch the term off with "
    "losses.identity = 0 (as the cats recipe does)."
)


def load_embedding_network(model: str, weights: str, embedding_dim: int) -> nn.Module:
    """A frozen timm network whose output is the embedding.

    Args:
        model: timm model name (the paper used an 18-layer ResNet: ``"resnet18"``).
        weights: state-dict file (``.safetensors`` or torch file), loaded strictly.
        embedding_dim: the model's ``num_classes`` (its embedding size); 0 = pooled features.

    Raises:
        RuntimeError: no weights file given or found (says how to supply it or turn off).
        ValueError: the weights do not fit the model (names the keys).
    """
    import timm

    if not weights:
        raise RuntimeError(MISSING_IDENTITY_HELP)
    try:
        state = read_state_dict(weights)
    except FileNotFoundError as err:
        raise RuntimeError(f"{MISSING_IDENTITY_HELP} ({err})") from None
    try:
        net = timm.create_model(model, pretrained=False, num_classes=int(embedding_dim))
    except Exception as err:
        raise ValueError(f"losses.identity.model {model!r} is not a timm model: {err}") from None
    load_strict(net, state, f"identity network {model!r} from {weights!r}")
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval()


@register("identity")
class Identity(LossTerm):
    """Squared distance between unit embeddings of the texture G(w0) and the perturbed
    render R(A, S, T, V', L'), averaged over samples whose perturbed yaw is within
    ``yaw_range`` degrees; 0 (not NaN) when none is.

    Args:
        network: the embedding network (built from ``model``/``weights`` when None). Frozen.
        model: timm model name.
        weights: weights file of ``model`` (required when ``network`` is None).
        embedding_dim: ``num_classes`` of the timm model.
        size: input size of the network (images are resized; their input range is [-1, 1]).
        yaw_range: only samples with ``|yaw'| < yaw_range`` count (paper: 25 degrees).
    """

    requires = ("texture", "perturbed", "view_perturb")

    def __init__(
        self,
        network: nn.Module | None = None,
        *,
        model: str = "resnet18",
        weights: str = "",
        embedding_dim: int = 512,
        size: int = 128,
        yaw_range: float = 25.0,
    ) -> None:
        super().__init__()
        if network is None:
            network = load_embedding_network(model, weights, embedding_dim)
        for p in network.parameters():
            p.requires_grad_(False)
        self.network = network.eval()
        self.size = int(size)
        self.yaw_range = float(yaw_range)

    @classmethod
    def build(cls, shared: Mapping[str, Any], **options: Any) -> "Identity":
        return cls(None, **options)

    def train(self, mode: bool = True) -> "Identity":
        return super().train(False)  # the embedding network never trains

    def embed(self, images01: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> (N, D) unit embeddings."""
        x = F.interpolate(images01, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        e = self.network(x * 2.0 - 1.0).flatten(1)
        return e / e.norm(dim=1, keepdim=True).clamp_min(1e-8)

    def forward(self, ctx) -> torch.Tensor:
        yaw = ctx.view_perturb[:, 1]
        keep = (yaw.abs() < self.yaw_range).nonzero().flatten()
        texture = ctx.texture
        if keep.numel() == 0:
            return texture.new_zeros(())
        a = self.embed(texture.index_select(0, keep))
        b = self.embed(ctx.perturbed.image.index_select(0, keep))
        return ((a - b) ** 2).sum(1).mean()
