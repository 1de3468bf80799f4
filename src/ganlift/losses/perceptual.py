"""Perceptual image distances: timm VGG16 features (paper) and a structural SSIM alternative.

Both take images in [0, 1] and an optional (B, 1, H, W) mask, and average over ``scales``
image scales (x1, x1/2, x1/4 in the paper). Masked averages here are over the whole batch and
0 for an empty mask (:func:`masked_mean`); the evaluation's are per sample and NaN for an
empty mask (:func:`ganlift.eval.metrics.masked_mean_per_sample`).
"""

from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F
from torch import nn

from ganlift.losses._weights import hub_file, load_strict, read_state_dict

__all__ = ["VGGPerceptual", "SSIMDistance", "create_perceptual", "load_vgg16_features", "vgg16_features", "masked_mean"]

# relu2_2, relu3_3 and relu4_3 in VGG16's `features` Sequential (timm and torchvision layout).
VGG_LAYERS = {"relu2_2": 8, "relu3_3": 15, "relu4_3": 22}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

MISSING_VGG_HELP = (
    "the perceptual loss (distance.perceptual = \"vgg16\") needs VGG16 weights. Supply them "
    "with distance.perceptual_weights = \"/path/to/vgg16.safetensors\" (a timm or torchvision "
    "VGG16 state dict, .safetensors or .pth; e.g. `--set distance.perceptual_weights=PATH`), "
    "or let huggingface_hub download distance.perceptual_repo (default timm/vgg16.tv_in1k; "
    "needs network, HF_HUB_OFFLINE unset), or switch the term off: "
    "distance.perceptual = \"ssim\" (structural, no weights) or \"none\"."
)


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mask-weighted mean of (B, C, H, W) ``values`` over the whole batch: a scalar loss.

    ``mask`` (B, 1, H', W') weighs each pixel (soft masks allowed) and is average-pooled to
    the values' size when it differs (feature maps). Returns 0 (not NaN) when the mask is
    empty, so a term with nothing to compare adds nothing to the loss.
    """
    if mask is None:
        return values.mean()
    mask = mask.to(values.dtype)
    if mask.shape[-2:] != values.shape[-2:]:
        mask = F.adaptive_avg_pool2d(mask, values.shape[-2:])
    weight = mask.expand_as(values)
    return (values * weight).sum() / weight.sum().clamp_min(1e-8)


def _downscale(x: torch.Tensor, level: int) -> torch.Tensor:
    return x if level == 0 else F.avg_pool2d(x, 2**level)


def vgg16_features() -> nn.Sequential:
    """timm's VGG16 ``features`` up to relu4_3, with uninitialised weights.

    The full model is built on the meta device (its 100M-parameter head is never allocated);
    only the convolutions that the perceptual loss uses are materialised.
    """
    import timm

    with torch.device("meta"):
        model = timm.create_model("vgg16", pretrained=False)
    return model.features[: VGG_LAYERS["relu4_3"] + 1].to_empty(device="cpu")


def load_vgg16_features(weights: str = "", repo: str = "timm/vgg16.tv_in1k") -> nn.Sequential:
    """VGG16 ``features`` up to relu4_3, frozen, with weights from a file or the Hub.

    Args:
        weights: local file (timm or torchvision VGG16 state dict; ``features.*`` keys are
            used, the classifier is ignored). Empty: download ``repo``'s model.safetensors.
        repo: Hugging Face Hub repository used when ``weights`` is empty.

    Raises:
        RuntimeError: no weights available; the message says how to supply them or turn
            the term off.
        ValueError: the file does not hold VGG16 weights.
    """
    try:
        path = weights or hub_file(repo)
        state = read_state_dict(path)
    except (FileNotFoundError, RuntimeError) as err:
        raise RuntimeError(f"{MISSING_VGG_HELP} ({err})") from None
    features = vgg16_features()
    if any(k.startswith("features.") for k in state):
        state = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}

    # keep the layers up to relu4_3; anything else left over is reported as unexpected
    def index(key: str) -> int:
        head = key.split(".")[0]
        return int(head) if head.isdigit() else -1

    state = {k: v for k, v in state.items() if index(k) < len(features)}
    load_strict(features, state, f"VGG16 weights {path!r}")
    for p in features.parameters():
        p.requires_grad_(False)
    return features.eval()


class VGGPerceptual(nn.Module):
    """Paper perceptual distance: squared differences of per-pixel L2-normalised VGG16
    features at relu2_2, relu3_3 and relu4_3, on ``scales`` image scales; the
    ``3 * scales`` terms are averaged.

    Args:
        features: VGG16 ``features`` (at least up to index 22), e.g. from
            :func:`load_vgg16_features`. Frozen and kept in eval mode.
        scales: number of image scales.
    """

    def __init__(self, features: nn.Sequential, scales: int = 3) -> None:
        super().__init__()
        self.features = features
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.scales = int(scales)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self._cached: list[tuple] = []  # (weak reference, key, taps) of the last two images

    def train(self, mode: bool = True) -> "VGGPerceptual":
        return super().train(False)  # frozen backbone: always eval

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())
        state["_cached"] = []  # weak references do not pickle; the cache is transient
        return state

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, stops = [], set(VGG_LAYERS.values())
        h = (x - self.mean) / self.std
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in stops:
                out.append(h / h.norm(dim=1, keepdim=True).clamp_min(1e-10))
            if i >= max(stops):
                break
        return out

    @staticmethod
    def _key(x: torch.Tensor) -> tuple:
        # A detached alias (x.detach()) has the same storage, layout and version counter.
        return (x.data_ptr(), tuple(x.shape), x.stride(), x._version)

    def _lookup(self, x: torch.Tensor) -> list[list[torch.Tensor]] | None:
        for ref, key, taps in self._cached:
            source = ref()  # alive, so its storage cannot have been reused by another tensor
            if source is not None and key == self._key(x):
                return taps
        return None

    def _remember(self, x: torch.Tensor, taps: list[list[torch.Tensor]]) -> None:
        self._cached = [(weakref.ref(x), self._key(x), taps), *self._cached][:2]

    def _target_taps(self, b: torch.Tensor) -> list[list[torch.Tensor]]:
        """Taps of a target (no gradient) at every scale. The last two images seen are
        remembered, so the same target is not run twice in a step: the reconstruction and
        flip terms share G(w), and perturbation (b)'s target G(w') is perturbation (a)'s
        image."""
        taps = self._lookup(b)
        if taps is None:
            with torch.no_grad():
                taps = [self._taps(_downscale(b, level)) for level in range(self.scales)]
            self._remember(b, taps)
        return taps

    def forward(self, a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 3, H, W) images in [0, 1] (+ mask (B, 1, H, W)) -> scalar.

        A ``b`` without gradient (a target) is run through VGG16 under ``no_grad`` (see
        :meth:`_target_taps`); otherwise ``a`` and ``b`` share one pass.
        """
        grad = torch.is_grad_enabled()
        target = None if b.requires_grad and grad else self._target_taps(b)
        remember = a.requires_grad and grad  # a may be the next term's target, detached
        terms, taps_a = [], []
        for level in range(self.scales):
            a_s = _downscale(a, level)
            m_s = None if mask is None else _downscale(mask, level)
            if target is None:
                pairs = [f.chunk(2) for f in self._taps(torch.cat([a_s, _downscale(b, level)]))]
            else:
                pairs = list(zip(self._taps(a_s), target[level]))
            if remember:
                taps_a.append([fa.detach() for fa, _ in pairs])
            for fa, fb in pairs:
                terms.append(masked_mean(((fa - fb) ** 2).sum(1, keepdim=True), m_s))
        if remember:
            self._remember(a, taps_a)
        return torch.stack(terms).mean()


class SSIMDistance(nn.Module):
    """Structural distance ``(1 - SSIM) / 2`` per pixel, masked, averaged over ``scales``
    image scales. Needs no weights: the perceptual term for CPU-sized runs.

    The per-pixel map is that of ``kornia.losses.ssim_loss`` (Gaussian window of sigma 1.5,
    reflect padding at the image border; equal to it, tested). The five local moments (means,
    second moments, cross moment) are filtered in one ``kornia.filters.filter2d_separable``
    call on the maps stacked along the channels, where kornia's SSIM filters each one apart:
    with gradients on the CPU, oneDNN pads every 3-channel depthwise convolution to a block of
    8 or 16 channels, and the five separate calls cost 1.1-1.5x as much at 64x64 and 2x at
    256x256 (batch 8, forward and backward). On the CPU a float32 stack is filtered in
    channels-last memory, where oneDNN's depthwise convolution is faster: the whole distance
    (3 scales, batch 8 at 64x64, forward and backward) takes 14.4 ms instead of 18.7 ms, with
    the same values (tested against kornia bit for bit).

    Args:
        scales: number of image scales.
        window: Gaussian window size (odd).
    """

    def __init__(self, scales: int = 3, window: int = 7) -> None:
        super().__init__()
        self.scales = int(scales)
        self.window = int(window)

    def dssim(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-pixel (B, C, H, W) ``(1 - SSIM) / 2`` of images in [0, 1], clamped to [0, 1]."""
        from kornia.filters import filter2d_separable, get_gaussian_kernel1d

        if a.dtype in (torch.float16, torch.bfloat16) or b.dtype in (torch.float16, torch.bfloat16):
            a, b = a.float(), b.float()  # the moments' differences need float32, as in kornia
        dtype = torch.promote_types(a.dtype, b.dtype)
        a, b = a.to(dtype), b.to(dtype)
        kernel = get_gaussian_kernel1d(self.window, 1.5, device=a.device, dtype=dtype)
        c1, c2 = 0.01**2, 0.03**2  # (0.01 L)^2, (0.03 L)^2 for the value range L = 1
        stacked = torch.cat([a, b, a * a, b * b, a * b], dim=1)
        if stacked.device.type == "cpu" and stacked.dtype == torch.float32:  # oneDNN's dtype
            stacked = stacked.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=a.device.type, enabled=False):
            moments = filter2d_separable(stacked, kernel, kernel, border_type="reflect")
        mu_a, mu_b, aa, bb, ab = moments.split(a.shape[1], dim=1)
        mu_aa, mu_bb, mu_ab = mu_a**2, mu_b**2, mu_a * mu_b
        num = (2.0 * mu_ab + c1) * (2.0 * (ab - mu_ab) + c2)
        den = (mu_aa + mu_bb + c1) * ((aa - mu_aa) + (bb - mu_bb) + c2)
        return torch.clamp((1.0 - num / den) / 2, min=0, max=1)

    def forward(self, a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 3, H, W) images in [0, 1] (+ mask (B, 1, H, W)) -> scalar."""
        terms = []
        for level in range(self.scales):
            if min(a.shape[-2:]) // 2**level < 4:
                break
            m_s = None if mask is None else _downscale(mask, level)
            terms.append(masked_mean(self.dssim(_downscale(a, level), _downscale(b, level)), m_s))
        return torch.stack(terms).mean()


def create_perceptual(
    name: str, weights: str = "", repo: str = "timm/vgg16.tv_in1k", scales: int = 3
) -> nn.Module | None:
    """Build the perceptual distance named in a recipe: ``"vgg16"``, ``"ssim"`` or ``"none"``.

    Raises:
        ValueError: unknown name.
        RuntimeError: VGG16 weights missing (message says how to supply them).
    """
    if name == "none":
        return None
    if name == "ssim":
        return SSIMDistance(scales=scales)
    if name == "vgg16":
        return VGGPerceptual(load_vgg16_features(weights, repo), scales=scales)
    raise ValueError(f"distance.perceptual must be 'vgg16', 'ssim' or 'none', got {name!r}")
