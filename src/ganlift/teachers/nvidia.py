"""Read NVIDIA ``stylegan2-ada-pytorch`` / ``stylegan3`` ``.pkl`` generators safely.

NVIDIA pickles rebuild their networks through ``torch_utils.persistence``, which embeds
the Python source of every network class in the file and would ``exec`` it on a plain
``pickle.load``. This module never does that. A restricted unpickler resolves only:

* torch's tensor-rebuild helpers (re-implemented here with argument checks; the raw
  storage bytes are read with ``torch.load(weights_only=True)``),
* ``collections.OrderedDict``, ``builtins.set``/``frozenset``, torch dtype constants and
  ``_codecs.encode`` for latin1 text only (how pickle protocol 2 spells ``bytes``),
* a stand-in for ``torch_utils.persistence._reconstruct_persistent_obj`` that returns an
  inert :class:`PersistentRecord` (class name, state, and the source kept as plain text),
* a stand-in for ``dnnlib.util.EasyDict`` (a dict), and numpy ``dtype``/scalar values.

Every other global raises :class:`RefusedGlobalError` naming it, before anything runs.

The generator (``G_ema``) is then read out of the record tree as an NVIDIA-named state
dict, mapped to the rosinality layout (:func:`nvidia_to_rosinality`; ``tests/test_nvidia.py``
checks it key by key against a map verified on NVIDIA's own code) and built with
:meth:`ganlift.teachers.stylegan2.StyleGAN2Teacher.from_state_dict`.

Example:
    >>> teacher = load_nvidia_pickle("stylegan2-ffhq-256x256.pkl")
    >>> images = teacher.synthesis(teacher.sample_w(4, seed=0))
"""

from __future__ import annotations

import collections
import io
import math
import mmap
import os
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ganlift.utils.tensors import check_tensors, describe_load_error

__all__ = [
    "PersistentRecord",
    "RefusedGlobalError",
    "InvalidPickleError",
    "read_nvidia_pickle",
    "find_generator",
    "record_state_dict",
    "generator_config",
    "nvidia_to_rosinality",
    "load_nvidia_pickle",
]

# rosinality's mapping layers use this learning-rate multiplier (EqualLinear lr_mul).
ROSINALITY_MAPPING_LR = 0.01
# NVIDIA's default for MappingNetwork(lr_multiplier=...).
NVIDIA_MAPPING_LR = 0.01


class InvalidPickleError(pickle.UnpicklingError, ValueError):
    """The file is not a well-formed NVIDIA pickle (also a ``ValueError`` for the CLI)."""


class RefusedGlobalError(InvalidPickleError):
    """The pickle names a global that the safe loader does not allow (nothing was run)."""


@dataclass
class PersistentRecord:
    """What ``torch_utils.persistence`` stored for one network object, never executed.

    Attributes:
        class_name: the original class name, e.g. ``"SynthesisLayer"``.
        state: the object's ``__dict__`` (for ``nn.Module``: ``_parameters``,
            ``_buffers``, ``_modules``, ``_init_kwargs`` and plain attributes).
        module_src: the embedded source text of the defining module, kept as inert text.
        version: the persistence format version (6 in current files).
        kind: the record type (``"class"``).
    """

    class_name: str
    state: dict = field(repr=False)
    module_src: str = field(default="", repr=False)
    version: int | None = None
    kind: str = "class"

    @property
    def children(self) -> "collections.OrderedDict[str, PersistentRecord]":
        """The child modules (``_modules``), skipping ``None`` entries."""
        mods = self.state.get("_modules") or {}
        return collections.OrderedDict((k, v) for k, v in mods.items() if v is not None)

    def get(self, name: str, default: Any = None) -> Any:
        """An attribute of the object, else its constructor kwarg ``name``, else ``default``."""
        if name in self.state:
            return self.state[name]
        kwargs = self.state.get("_init_kwargs")
        return kwargs.get(name, default) if isinstance(kwargs, dict) else default


# ---------------------------------------------------------------------------------------
# Stand-ins for the allowed globals. Each checks its arguments: the file is untrusted.
# ---------------------------------------------------------------------------------------


def _reconstruct_persistent_obj(meta: Any) -> PersistentRecord:
    """Stand-in for NVIDIA's persistence hook: record the meta, run nothing."""
    if not isinstance(meta, dict):
        raise pickle.UnpicklingError(
            f"persistent object meta must be a dict, got {type(meta).__name__}"
        )
    state = meta.get("state")
    if state is None:
        state = {}
    if not isinstance(state, dict):
        raise pickle.UnpicklingError(
            f"persistent object state must be a dict, got {type(state).__name__}"
        )
    src = meta.get("module_src", "")
    return PersistentRecord(
        class_name=str(meta.get("class_name", "")),
        state=state,
        module_src=src if isinstance(src, str) else "",
        version=meta.get("version"),
        kind=str(meta.get("type", "")),
    )


class _EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict``: a dict whose items read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _load_from_bytes(data: Any) -> torch.storage.TypedStorage:
    """Stand-in for ``torch.storage._load_from_bytes``: a nested ``torch.save`` of a storage."""
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError(f"storage bytes expected, got {type(data).__name__}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage deprecation notices
        try:
            storage = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
        except Exception as err:  # torch reports a bad nested save in many types
            raise pickle.UnpicklingError(
                f"a tensor storage in the pickle is unreadable: {describe_load_error(err)}"
            ) from None
    if not isinstance(storage, torch.storage.TypedStorage):
        raise pickle.UnpicklingError(
            f"storage bytes held a {type(storage).__name__}, not a tensor storage"
        )
    return storage


def _int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list, torch.Size)) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise pickle.UnpicklingError(f"tensor {what} must be a tuple of ints, got {value!r}")
    return tuple(value)


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> torch.Tensor:
    """Safe ``torch._utils._rebuild_tensor``: a view of a storage, bounds checked by torch."""
    if not isinstance(storage, torch.storage.TypedStorage):
        raise pickle.UnpicklingError(f"tensor storage expected, got {type(storage).__name__}")
    if not isinstance(storage_offset, int):
        raise pickle.UnpicklingError(f"tensor offset must be an int, got {storage_offset!r}")
    size = _int_tuple(size, "size")
    stride = _int_tuple(stride, "stride")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dtype, untyped, numel = storage.dtype, storage._untyped_storage, storage.size()
    # Check the view fits the storage ourselves: Tensor.set_ would silently grow it.
    if len(size) != len(stride) or storage_offset < 0 or any(v < 0 for v in size + stride):
        raise pickle.UnpicklingError(
            f"invalid tensor layout in pickle: offset {storage_offset}, size {size}, stride {stride}"
        )
    if all(size):
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= numel:
            raise pickle.UnpicklingError(
                f"invalid tensor layout in pickle: size {size} / stride {stride} at offset "
                f"{storage_offset} reach past a storage of {numel} elements"
            )
        # Zero or overlapping strides let a few stored bytes declare gigabytes, which the
        # first copy would allocate: a tensor may not declare more elements than it stores.
        if math.prod(size) > numel - storage_offset:
            raise pickle.UnpicklingError(
                f"invalid tensor layout in pickle: size {size} / stride {stride} declares "
                f"{math.prod(size)} elements over {numel - storage_offset} stored ones "
                "(overlapping views; a corrupt or crafted file)"
            )
    t = torch.empty((0,), dtype=dtype)
    try:
        return t.set_(untyped, storage_offset, size, stride)
    except RuntimeError as err:
        raise pickle.UnpicklingError(f"invalid tensor layout in pickle: {err}") from None


def _rebuild_tensor_v2(
    storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None
) -> torch.Tensor:
    """Safe ``torch._utils._rebuild_tensor_v2``: hooks and metadata are ignored."""
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None) -> torch.Tensor:
    """Safe ``torch._utils._rebuild_parameter`` (and ``_with_state``): the plain tensor."""
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError(f"parameter data must be a tensor, got {type(data).__name__}")
    return data


# numpy dtypes accepted by the stand-ins: booleans, numbers and fixed-size byte strings.
_NUMPY_KINDS = set("biufcSUV")


def _numpy_dtype(obj: Any, align: Any = False, copy: Any = False) -> np.dtype:
    """Stand-in for ``numpy.dtype``: only simple type codes such as ``'f8'``."""
    if not isinstance(obj, str) or not re.fullmatch(r"[<>=|]?[a-zA-Z]\d*", obj):
        raise pickle.UnpicklingError(f"numpy dtype {obj!r} is not a simple type code")
    dtype = np.dtype(obj)
    if dtype.kind not in _NUMPY_KINDS or dtype.hasobject:
        raise pickle.UnpicklingError(f"numpy dtype {obj!r} is not allowed")
    return dtype


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    """Stand-in for ``numpy.core.multiarray.scalar``: a scalar read from its raw bytes."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or dtype.kind not in _NUMPY_KINDS:
        raise pickle.UnpicklingError(f"numpy scalar of dtype {dtype!r} is not allowed")
    if not isinstance(data, (bytes, bytearray)) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError(f"numpy scalar of dtype {dtype} needs {dtype.itemsize} bytes")
    return np.frombuffer(bytes(data), dtype=dtype, count=1)[0].copy()


def _latin1_bytes(text: Any, encoding: Any = "latin1") -> bytes:
    """Stand-in for ``_codecs.encode`` as protocol 2 uses it to spell ``bytes`` objects."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"only latin1 byte strings are allowed, got {encoding!r}")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    ("collections", "OrderedDict"): collections.OrderedDict,
    # Module __dict__s hold a set; protocols < 4 pickle it through this global.
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set,  # protocol 2 spells builtins the Python 2 way
    ("__builtin__", "frozenset"): frozenset,
    ("_codecs", "encode"): _latin1_bytes,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
}
# dtype constants (e.g. ``torch.float32``) are inert values, not callables that do work.
_TORCH_DTYPES = {n for n in dir(torch) if isinstance(getattr(torch, n, None), torch.dtype)}


class _SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals listed in ``_ALLOWED``."""

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED.get((module, name))
        if found is not None:
            return found
        if module == "torch" and name in _TORCH_DTYPES:
            return getattr(torch, name)
        raise RefusedGlobalError(
            f"refused global {module}.{name}: this pickle would call code outside the "
            "allowed tensor-rebuild helpers and NVIDIA persistence records, so it was not "
            "loaded (nothing from it was run)"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(
            "persistent ids are not used by NVIDIA pickles; refusing to resolve one"
        )


_SG3_MESSAGE = (
    "this pickle holds a StyleGAN3 (alias-free, config t/r) generator; ganlift lifts "
    "StyleGAN2 generators only. Use a StyleGAN2 checkpoint (stylegan2-ada-pytorch, or the "
    "stylegan3 repository's --cfg=stylegan2 networks)"
)


def _mentions_stylegan3(path: Path) -> bool:
    """Whether the file names StyleGAN3's input layer (in its class names or source text)."""
    with open(path, "rb") as f:
        try:
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                return m.find(b"SynthesisInput") >= 0
        except ValueError:  # empty file
            return False


def read_nvidia_pickle(path: str | os.PathLike) -> Any:
    """Unpickle an NVIDIA ``.pkl`` with the restricted unpickler.

    Args:
        path: the pickle file.

    Returns:
        The unpickled object (usually the dict ``{G, D, G_ema, augment_pipe, ...}``), with
        every network replaced by a :class:`PersistentRecord`.

    Raises:
        RefusedGlobalError: the file names a global outside the allowed set.
        InvalidPickleError: the file is malformed (a ``pickle.UnpicklingError`` and a
            ``ValueError``; :class:`RefusedGlobalError` is one too).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NVIDIA pickle {str(path)!r} does not exist")
    with open(path, "rb") as f:
        try:
            return _SafeUnpickler(f).load()
        except RefusedGlobalError as err:
            if _mentions_stylegan3(path):  # StyleGAN3 layers hold numpy arrays: say why
                raise RefusedGlobalError(f"{path.name}: {_SG3_MESSAGE} ({err})") from None
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
            raise InvalidPickleError(f"{path} is not a readable NVIDIA pickle: {err}") from err


# ---------------------------------------------------------------------------------------
# Reading the generator out of the record tree.
# ---------------------------------------------------------------------------------------


def find_generator(data: Any, network: str = "G_ema") -> PersistentRecord:
    """Pick the generator record from an unpickled NVIDIA file.

    Args:
        data: the result of :func:`read_nvidia_pickle`.
        network: the dict entry to read (``"G_ema"``; ``"G"`` for the raw generator).

    Raises:
        KeyError: ``network`` is not in the file.
        ValueError: the entry is not a network record.
    """
    if isinstance(data, PersistentRecord):
        return data  # a bare pickled generator
    if not isinstance(data, dict):
        raise ValueError(f"expected a dict of networks in the pickle, got {type(data).__name__}")
    if network not in data:
        raise KeyError(
            f"the pickle has no {network!r} entry; it holds {sorted(map(str, data))}. "
            "Pass network=<one of those> to choose another generator."
        )
    record = data[network]
    if not isinstance(record, PersistentRecord):
        raise ValueError(
            f"pickle entry {network!r} is a {type(record).__name__}, not an NVIDIA "
            "persistent network record"
        )
    return record


def record_state_dict(record: PersistentRecord, prefix: str = "") -> "collections.OrderedDict[str, torch.Tensor]":
    """The ``state_dict()`` a module would return, read from a record tree (no code run).

    Parameters, then persistent buffers, then children, as ``nn.Module`` orders them.
    """
    out: collections.OrderedDict[str, torch.Tensor] = collections.OrderedDict()
    state = record.state
    non_persistent = state.get("_non_persistent_buffers_set") or set()
    groups = ((state.get("_parameters") or {}).items(), (state.get("_buffers") or {}).items())
    for is_buffer, items in enumerate(groups):
        for name, tensor in items:
            if tensor is None or (is_buffer and name in non_persistent):
                continue
            if not isinstance(tensor, torch.Tensor):
                raise ValueError(f"{prefix}{name} is a {type(tensor).__name__}, not a tensor")
            out[prefix + name] = tensor
    for name, child in (state.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, PersistentRecord):
            raise ValueError(f"child module {prefix}{name} is a {type(child).__name__}, not a record")
        out.update(record_state_dict(child, prefix + name + "."))
    return out


def _walk(record: PersistentRecord, prefix: str = ""):
    yield prefix, record
    for name, child in record.children.items():
        if isinstance(child, PersistentRecord):
            yield from _walk(child, f"{prefix}{name}.")


_SG3_LAYER = re.compile(r"L\d+_\d+_\d+")


def _refuse_stylegan3(synthesis: PersistentRecord) -> None:
    names = list(synthesis.children)
    classes = {r.class_name for _, r in _walk(synthesis)}
    if "input" in names or "SynthesisInput" in classes or any(_SG3_LAYER.fullmatch(n) for n in names):
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        raise ValueError(f"{_SG3_MESSAGE} (synthesis layers: {shown})")


def generator_config(g: PersistentRecord) -> dict:
    """Read the configuration of a StyleGAN2 generator record and check it is supported.

    Reads attributes first and the recorded constructor kwargs (``_init_kwargs``) second.

    Returns:
        dict with ``z_dim, c_dim, w_dim, img_resolution, img_channels, num_ws,
        mapping_layers, mapping_lr, conv_clamp, architecture, channels`` (res -> width).

    Raises:
        ValueError: StyleGAN3, conditional (``c_dim > 0``), non-RGB or non-``skip``
            generators, or a record that is not a generator.
    """
    children = g.children
    if "synthesis" not in children or "mapping" not in children:
        raise ValueError(
            f"record {g.class_name!r} is not a StyleGAN generator: it has children "
            f"{list(children)}, expected 'mapping' and 'synthesis'"
        )
    synthesis, mapping = children["synthesis"], children["mapping"]
    _refuse_stylegan3(synthesis)
    syn_kwargs = g.get("synthesis_kwargs") or {}
    map_kwargs = g.get("mapping_kwargs") or {}

    c_dim = int(g.get("c_dim", 0) or 0)
    if c_dim > 0 or "embed" in mapping.children:
        raise ValueError(
            f"this generator is class-conditional (c_dim={c_dim}): it needs a class label "
            "for every sample, which a ganlift teacher does not take. Only unconditional "
            "StyleGAN2 generators (c_dim=0) can be loaded."
        )
    img_channels = int(g.get("img_channels", 3))
    if img_channels != 3:
        raise ValueError(f"img_channels={img_channels}: only RGB generators (3 channels) are supported")
    blocks = {name: rec for name, rec in synthesis.children.items() if re.fullmatch(r"b\d+", name)}
    if not blocks:
        raise ValueError(f"synthesis network has no b<res> blocks (children: {list(synthesis.children)})")
    architecture = synthesis.get("architecture", syn_kwargs.get("architecture", "skip"))
    for block in blocks.values():
        architecture = block.get("architecture", architecture)
        if "skip" in block.children or "torgb" not in block.children:
            # 'resnet' has a skip conv per block, 'orig' a ToRGB only in the last block.
            architecture = architecture if architecture != "skip" else "resnet/orig"
    if architecture != "skip":
        raise ValueError(
            f"synthesis architecture {architecture!r} is not supported: only the StyleGAN2 "
            "default 'skip' (a ToRGB in every block) maps onto ganlift's generator"
        )

    res = sorted(int(n[1:]) for n in blocks)
    img_resolution = int(g.get("img_resolution", synthesis.get("img_resolution", res[-1])))
    if not 4 <= img_resolution <= 2**16:
        raise ValueError(f"img_resolution={img_resolution} is not a generator resolution")
    if res[0] != 4 or res != [2**k for k in range(2, int(math.log2(img_resolution)) + 1)]:
        raise ValueError(f"unexpected synthesis blocks {sorted(blocks)} for resolution {img_resolution}")

    clamps = set()
    channels = {}
    for r in res:
        block = blocks[f"b{r}"]
        for lname, layer in block.children.items():
            if lname in ("conv0", "conv1", "torgb"):
                clamps.add(layer.get("conv_clamp", block.get("conv_clamp", syn_kwargs.get("conv_clamp"))))
        conv1 = block.children.get("conv1")
        params = (conv1.state.get("_parameters") or {}) if conv1 is not None else {}
        weight = params.get("weight")
        channels[r] = int(weight.shape[0]) if isinstance(weight, torch.Tensor) else None
    if len(clamps) != 1:
        raise ValueError(f"layers use different conv_clamp values {sorted(map(str, clamps))}; expected one")
    conv_clamp = clamps.pop()
    if conv_clamp is not None:
        conv_clamp = float(conv_clamp)

    fc_names = sorted((n for n in mapping.children if re.fullmatch(r"fc\d+", n)), key=lambda n: int(n[2:]))
    if not fc_names:
        raise ValueError(f"mapping network has no fc<i> layers (children: {list(mapping.children)})")
    lr = None
    for n in fc_names:
        fc = mapping.children[n]
        activation = fc.get("activation", "lrelu")
        if activation != "lrelu":
            raise ValueError(f"mapping layer {n} uses activation {activation!r}; only 'lrelu' is supported")
        gain = fc.get("bias_gain", fc.get("lr_multiplier"))
        gain = float(gain) if gain is not None else None
        if lr is not None and gain is not None and not math.isclose(gain, lr, rel_tol=1e-6):
            raise ValueError(f"mapping layers use different learning-rate multipliers ({lr}, {gain})")
        lr = gain if gain is not None else lr
    if lr is None:
        lr = float(mapping.get("lr_multiplier", map_kwargs.get("lr_multiplier", NVIDIA_MAPPING_LR)))

    w_dim = int(g.get("w_dim", mapping.get("w_dim", 512)))
    return {
        "z_dim": int(g.get("z_dim", mapping.get("z_dim", 512))),
        "c_dim": c_dim,
        "w_dim": w_dim,
        "img_resolution": img_resolution,
        "img_channels": img_channels,
        "num_ws": int(g.get("num_ws", 2 * int(math.log2(img_resolution)) - 2)),
        "mapping_layers": len(fc_names),
        "mapping_lr": lr,
        "conv_clamp": conv_clamp,
        "architecture": architecture,
        "channels": channels,
    }


# ---------------------------------------------------------------------------------------
# NVIDIA -> rosinality key map (tests/test_nvidia.py checks it against a verified map).
# ---------------------------------------------------------------------------------------


def nvidia_to_rosinality(
    state: Mapping[str, torch.Tensor], *, mapping_lr: float = NVIDIA_MAPPING_LR
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """Map an NVIDIA StyleGAN2 generator state dict onto rosinality keys.

    Args:
        state: NVIDIA names (``synthesis.b{r}.*``, ``mapping.fc{i}.*``, ``mapping.w_avg``).
        mapping_lr: the mapping layers' learning-rate multiplier (their run-time gain);
            weights are rescaled when it differs from rosinality's 0.01.

    Returns:
        ``(rosinality_state, w_mean)`` with w_mean (1, w_dim) from ``mapping.w_avg``, or
        ``None`` when the file has no ``w_avg``. All tensors float32 and contiguous.

    Raises:
        KeyError: a required key is missing, or keys are left that have no counterpart.
    """
    src = {k: v.detach().to(torch.float32) for k, v in state.items()}
    used: set[str] = set()
    out: dict[str, torch.Tensor] = {}

    def take(key: str) -> torch.Tensor:
        if key not in src:
            raise KeyError(f"NVIDIA state dict lacks {key!r}")
        used.add(key)
        return src[key]

    res = sorted(int(m.group(1)) for k in src if (m := re.fullmatch(r"synthesis\.b(\d+)\.torgb\.weight", k)))
    if not res or res[0] != 4:
        raise KeyError("NVIDIA state dict has no synthesis.b4.torgb.weight (not a StyleGAN2 'skip' generator)")

    def layer(nv: str, ros: str, noise_index: int, size: int) -> None:
        out[f"{ros}.conv.weight"] = take(f"{nv}.weight").unsqueeze(0)  # no flip, also for up convs
        out[f"{ros}.conv.modulation.weight"] = take(f"{nv}.affine.weight")
        out[f"{ros}.conv.modulation.bias"] = take(f"{nv}.affine.bias")  # stored as used: no +1
        out[f"{ros}.activate.bias"] = take(f"{nv}.bias")
        if f"{nv}.noise_strength" in src:
            out[f"{ros}.noise.weight"] = take(f"{nv}.noise_strength").reshape(1)
            out[f"noises.noise_{noise_index}"] = take(f"{nv}.noise_const").reshape(1, 1, size, size)
        else:  # use_noise=False: no noise, which zero strength reproduces exactly
            out[f"{ros}.noise.weight"] = torch.zeros(1)
            out[f"noises.noise_{noise_index}"] = torch.zeros(1, 1, size, size)

    def torgb(nv: str, ros: str) -> None:
        out[f"{ros}.conv.weight"] = take(f"{nv}.weight").unsqueeze(0)
        out[f"{ros}.conv.modulation.weight"] = take(f"{nv}.affine.weight")
        out[f"{ros}.conv.modulation.bias"] = take(f"{nv}.affine.bias")
        out[f"{ros}.bias"] = take(f"{nv}.bias").reshape(1, -1, 1, 1)

    # Filters sum to 1 in NVIDIA files; rosinality kernels include the up-factor^2 = 4.
    out["input.input"] = take("synthesis.b4.const").unsqueeze(0)
    layer("synthesis.b4.conv1", "conv1", 0, 4)
    torgb("synthesis.b4.torgb", "to_rgb1")
    for k in range(3, int(math.log2(res[-1])) + 1):
        r, j, b = 2**k, k - 3, f"synthesis.b{2**k}"
        layer(f"{b}.conv0", f"convs.{2 * j}", 2 * k - 5, r)
        out[f"convs.{2 * j}.conv.blur.kernel"] = take(f"{b}.conv0.resample_filter") * 4
        layer(f"{b}.conv1", f"convs.{2 * j + 1}", 2 * k - 4, r)
        torgb(f"{b}.torgb", f"to_rgbs.{j}")
        out[f"to_rgbs.{j}.upsample.kernel"] = take(f"{b}.resample_filter") * 4
    # Unused filters (b4 has no RGB input; conv1 layers do not resample).
    for key in src:
        if re.fullmatch(r"synthesis\.b4\.resample_filter|synthesis\.b\d+\.conv1\.resample_filter", key):
            used.add(key)

    scale = mapping_lr / ROSINALITY_MAPPING_LR  # same run-time weight under rosinality's gain
    i = 0
    while f"mapping.fc{i}.weight" in src:
        w, bias = take(f"mapping.fc{i}.weight"), take(f"mapping.fc{i}.bias")
        if not math.isclose(scale, 1.0, rel_tol=1e-9):
            w, bias = w * scale, bias * scale
        out[f"style.{i + 1}.weight"], out[f"style.{i + 1}.bias"] = w, bias
        i += 1
    if i == 0:
        raise KeyError("NVIDIA state dict has no mapping.fc0.weight")
    w_mean = take("mapping.w_avg").reshape(1, -1) if "mapping.w_avg" in src else None

    left = sorted(set(src) - used)
    if left:
        raise KeyError(f"NVIDIA state dict has keys without a StyleGAN2 counterpart: {left}")
    out = {k: v.contiguous().clone() for k, v in out.items()}
    return out, (w_mean.clone() if w_mean is not None else None)


_OPTIONS = {"network", "name", "w_mean_samples", "seed"}


def load_nvidia_pickle(
    path: str | os.PathLike, *, network: str = "G_ema", name: str | None = None, **options: Any
):
    """Load the generator of an NVIDIA StyleGAN2 ``.pkl`` as a ganlift teacher, safely.

    Args:
        path: a ``stylegan2-ada-pytorch`` / ``stylegan3`` (``--cfg=stylegan2``) pickle.
        network: which entry to read; ``"G_ema"`` (the generator used for sampling).
        name: teacher name; defaults to the file name without suffix.
        **options: ``w_mean_samples`` and ``seed`` for ``StyleGAN2Teacher.from_state_dict``
            (the w statistics it estimates: the std always, the mean only when the file
            has no ``w_avg``).

    Returns:
        A frozen :class:`~ganlift.teachers.stylegan2.StyleGAN2Teacher` with the file's
        ``w_avg`` as its ``w_mean`` and NVIDIA's ``conv_clamp``; ``teacher.reference()``
        records the path, sha256 and format ``"nvidia-pkl"``.

    Raises:
        RefusedGlobalError: the file names a global outside the allowed set (nothing ran).
        InvalidPickleError: the file is not a readable pickle.
        ValueError: StyleGAN3, conditional or otherwise unsupported generators, or an
            unknown option.
        KeyError: ``network`` missing, or unexpected/missing weights.
    """
    from ganlift.teachers.stylegan2 import StyleGAN2Teacher  # lazy: heavy module
    from ganlift.utils.io import sha256_file

    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for an NVIDIA pickle; allowed: {sorted(_OPTIONS)}")
    path = Path(os.path.expanduser(str(path)))
    g = find_generator(read_nvidia_pickle(path), network)
    try:
        config = generator_config(g)
    except (TypeError, OverflowError) as err:  # attributes of the wrong type in the file
        raise ValueError(f"{path.name}: the generator record has malformed attributes ({err})") from None
    state = record_state_dict(g)
    check_tensors(state, path.name)  # before any tensor is converted or copied
    ros, w_mean = nvidia_to_rosinality(state, mapping_lr=config["mapping_lr"])
    teacher = StyleGAN2Teacher.from_state_dict(
        ros, w_mean=w_mean, conv_clamp=config["conv_clamp"], name=name or path.stem, **options
    )
    got = {"z_dim": teacher.z_dim, "w_dim": teacher.w_dim, "num_ws": teacher.num_ws,
           "img_resolution": teacher.resolution}
    for key, value in got.items():
        if int(value) != config[key]:
            raise ValueError(
                f"{path.name}: the file records {key}={config[key]} but its weights build a "
                f"generator with {key}={value}"
            )
    teacher.origin.update({
        "path": str(path.resolve()), "sha256": sha256_file(path), "format": "nvidia-pkl",
        "network": network,
    })
    if w_mean is not None:
        teacher.origin["w_mean_source"] = "w_avg"
    return teacher.freeze()
