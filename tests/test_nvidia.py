"""Safe loading of NVIDIA stylegan2-ada-pytorch / stylegan3 ``.pkl`` generators.

The tests write pickles with the structure NVIDIA's ``torch_utils.persistence`` gives them:
every network is a reduce to ``torch_utils.persistence._reconstruct_persistent_obj(meta)``
with ``meta = {type, version, module_src, class_name, state}``, the state being a real
``nn.Module.__dict__`` whose tensors torch pickles itself. The ``torch_utils`` and ``dnnlib``
modules exist only while a test pickles (so that pickle can name them) and never while
the loader runs.
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import pickle
import re
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import shared_path
from ganlift.teachers import nvidia
from ganlift.teachers.nvidia import PersistentRecord, RefusedGlobalError

NV_DIR = ("fixtures", "stylegan2-nvidia")
W_SAMPLES = 2048  # samples for the estimated w std (the mean comes from w_avg); keeps tests fast

# ------------------------------------------------------------------------------------------
# An NVIDIA-style pickler for the tests.


@contextlib.contextmanager
def fake_nvidia_modules(runnable: bool = False):
    """Make ``torch_utils.persistence`` and ``dnnlib.util`` importable while pickling.

    With ``runnable`` the hook returns its meta, so a plain ``pickle.load`` can finish.
    """
    names = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")
    saved = {n: sys.modules.get(n) for n in names}
    persistence = types.ModuleType("torch_utils.persistence")
    util = types.ModuleType("dnnlib.util")

    def _reconstruct_persistent_obj(meta):  # tests only pickle with it
        if runnable:
            return meta
        raise AssertionError("the fake persistence hook must not run")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    EasyDict = type("EasyDict", (dict,), {"__module__": "dnnlib.util"})
    util.EasyDict = EasyDict
    sys.modules.update({
        "torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": persistence,
        "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": util,
    })
    try:
        yield persistence, EasyDict
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


class FakeNet(nn.Module):
    """An nn.Module that pickles like an NVIDIA persistent class (source + name + state)."""

    module_src = "# training/networks.py (text only)\n"

    def __init__(self, class_name: str, init_kwargs: dict | None = None, **attrs):
        super().__init__()
        self._fake_class_name = class_name
        self._init_args = ()
        self._init_kwargs = dict(init_kwargs or {})
        for k, v in attrs.items():
            setattr(self, k, v)

    def __reduce_ex__(self, protocol):
        persistence = sys.modules["torch_utils.persistence"]
        state = dict(self.__dict__)
        class_name = state.pop("_fake_class_name")
        state["_orig_module_src"] = self.module_src
        state["_orig_class_name"] = class_name
        meta = dict(type="class", version=6, module_src=self.module_src,
                    class_name=class_name, state=state)
        return (persistence._reconstruct_persistent_obj, (meta,))


BUFFERS = ("resample_filter", "noise_const", "w_avg")


def _class_of(path: list[str]) -> str:
    name = path[-1] if path else ""
    if not path:
        return "Generator"
    if name == "synthesis":
        return "SynthesisNetwork"
    if name == "mapping":
        return "MappingNetwork"
    if re.fullmatch(r"b\d+", name):
        return "SynthesisBlock"
    if name in ("conv0", "conv1"):
        return "SynthesisLayer"
    if name == "torgb":
        return "ToRGBLayer"
    if name == "input":
        return "SynthesisInput"
    if re.fullmatch(r"L\d+_\d+_\d+", name):
        return "SynthesisLayer"
    return "FullyConnectedLayer"


def build_generator(state: dict, *, z_dim=512, w_dim=512, conv_clamp=None, lr=0.01,
                    c_dim=0, class_names=None, EasyDict=dict) -> FakeNet:
    """A fake NVIDIA Generator holding ``state`` (NVIDIA names), with realistic attributes."""
    res = max([int(m.group(1)) for k in state if (m := re.match(r"synthesis\.b(\d+)\.", k))] or [4])
    n_fc = len([k for k in state if re.fullmatch(r"mapping\.fc\d+\.weight", k)])
    kwargs = dict(
        z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=res, img_channels=3,
        mapping_kwargs=EasyDict(num_layers=n_fc),
        synthesis_kwargs=EasyDict(channel_base=1024, channel_max=64, num_fp16_res=0,
                                  conv_clamp=conv_clamp, architecture="skip"),
    )
    root = FakeNet("Generator", kwargs, z_dim=z_dim, c_dim=c_dim, w_dim=w_dim,
                   img_resolution=res, img_channels=3, num_ws=2 * int(math.log2(res)) - 2)
    for key, value in state.items():
        *path, leaf = key.split(".")
        mod = root
        for i, part in enumerate(path):
            if part not in mod._modules:
                cls = (class_names or {}).get(".".join(path[: i + 1])) or _class_of(path[: i + 1])
                attrs = {}
                if cls == "SynthesisLayer":
                    attrs = dict(conv_clamp=conv_clamp, activation="lrelu", up=1 + (part == "conv0"),
                                 act_gain=np.sqrt(2), use_noise=True, resolution=res)
                elif cls == "ToRGBLayer":
                    attrs = dict(conv_clamp=conv_clamp)
                elif cls == "FullyConnectedLayer" and part.startswith("fc"):
                    attrs = dict(activation="lrelu", bias_gain=lr, weight_gain=None)
                elif cls == "FullyConnectedLayer":
                    attrs = dict(activation="linear", bias_gain=1)
                elif cls == "SynthesisBlock":
                    attrs = dict(architecture="skip", conv_clamp=conv_clamp, resolution=int(part[1:]))
                mod.add_module(part, FakeNet(cls, {}, **attrs))
            mod = mod._modules[part]
        t = value.detach().clone()
        if leaf in BUFFERS:
            mod.register_buffer(leaf, t)
        else:
            mod.register_parameter(leaf, nn.Parameter(t, requires_grad=False))
        if leaf == "weight" and getattr(mod, "weight_gain", 0) is None:
            mod.weight_gain = np.float64(lr / np.sqrt(t.shape[1]))  # a numpy scalar, as NVIDIA
    return root


def write_nvidia_pickle(path: Path, state: dict, *, g_state: dict | None = None,
                        extra_attrs: dict | None = None, protocol: int | None = None, **kwargs) -> Path:
    """Write ``{G, D, G_ema, augment_pipe, training_set_kwargs}`` like NVIDIA's training loop.

    ``G`` gets ``g_state`` (default: the negated weights) so that reading it by mistake shows.
    ``extra_attrs`` maps a module path of G_ema to attributes to add.
    """
    with fake_nvidia_modules() as (_, EasyDict):
        g_ema = build_generator(state, EasyDict=EasyDict, **kwargs)
        for mod_path, attrs in (extra_attrs or {}).items():
            for k, v in attrs.items():
                setattr(g_ema.get_submodule(mod_path), k, v)
        g = build_generator(g_state or {k: -v for k, v in state.items()}, EasyDict=EasyDict, **kwargs)
        d = FakeNet("Discriminator", dict(c_dim=0, img_resolution=g_ema.img_resolution))
        d.register_parameter("b4_fc_weight", nn.Parameter(torch.randn(4, 8), requires_grad=False))
        pipe = FakeNet("AugmentPipe", dict(xflip=1, rotate90=1), xflip=np.float64(1.0), p_std=0.0)
        pipe.register_buffer("p", torch.zeros([]))
        data = dict(G=g, D=d, G_ema=g_ema, augment_pipe=pipe,
                    training_set_kwargs=EasyDict(class_name="training.dataset.ImageFolderDataset",
                                                 path="~/datasets/x.zip", resolution=64))
        with open(path, "wb") as f:
            pickle.dump(data, f, protocol=protocol)  # default protocol, as NVIDIA's training loop
    return path


def nvidia_key_shapes(resolution: int, channels: dict, w_dim: int, z_dim: int, n_fc: int) -> dict:
    """NVIDIA key -> shape for a 'skip' StyleGAN2 generator (module order)."""
    shapes = {}
    for k in range(2, int(math.log2(resolution)) + 1):
        r, b = 2**k, f"synthesis.b{2**k}"
        c_in, c = channels[max(r // 2, 4)], channels[r]
        if r == 4:
            shapes[f"{b}.const"] = [c, 4, 4]
        shapes[f"{b}.resample_filter"] = [4, 4]
        for layer, cin in (("conv0", c_in), ("conv1", c)) if r > 4 else (("conv1", c),):
            shapes.update({
                f"{b}.{layer}.weight": [c, cin, 3, 3], f"{b}.{layer}.noise_strength": [],
                f"{b}.{layer}.bias": [c], f"{b}.{layer}.resample_filter": [4, 4],
                f"{b}.{layer}.noise_const": [r, r], f"{b}.{layer}.affine.weight": [cin, w_dim],
                f"{b}.{layer}.affine.bias": [cin],
            })
        shapes.update({f"{b}.torgb.weight": [3, c, 1, 1], f"{b}.torgb.bias": [3],
                       f"{b}.torgb.affine.weight": [c, w_dim], f"{b}.torgb.affine.bias": [c]})
    shapes["mapping.w_avg"] = [w_dim]
    for i in range(n_fc):
        shapes[f"mapping.fc{i}.weight"] = [w_dim, z_dim if i == 0 else w_dim]
        shapes[f"mapping.fc{i}.bias"] = [w_dim]
    return shapes


def random_nvidia_state(shapes: dict, seed: int = 0, conv_bias_scale: float = 0.1,
                        lr: float = 0.01) -> dict:
    """Random weights in NVIDIA's storage conventions (filters sum to 1, affine bias ~1)."""
    g = torch.Generator().manual_seed(seed)
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    state = {}
    for key, shape in shapes.items():
        if key.endswith("resample_filter"):
            state[key] = torch.outer(k, k) / torch.outer(k, k).sum()
            continue
        t = torch.randn(shape, generator=g)
        if key.endswith("affine.bias"):
            t = 1.0 + 0.1 * t
        elif key.startswith("synthesis") and key.endswith(".bias"):
            t = conv_bias_scale * t
        elif key.endswith("bias") or key.endswith("noise_strength") or key == "mapping.w_avg":
            t = 0.1 * t
        if key.startswith("mapping.fc"):
            t = t / lr  # stored weights are 1/lr_multiplier larger than the effective ones
        state[key] = t
    return state


# ------------------------------------------------------------------------------------------
# An independent NVIDIA-semantics forward (from the fixture README), on NVIDIA keys.


def _fir(x: torch.Tensor, f: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    c = x.shape[1]
    x = F.pad(x, pad)
    return F.conv2d(x, f.flip([0, 1])[None, None].repeat(c, 1, 1, 1), groups=c)


def nvidia_mapping(s: dict, z: torch.Tensor, lr: float = 0.01) -> torch.Tensor:
    x = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)
    i = 0
    while f"mapping.fc{i}.weight" in s:
        w, b = s[f"mapping.fc{i}.weight"], s[f"mapping.fc{i}.bias"]
        x = F.leaky_relu(x @ (w * (lr / math.sqrt(w.shape[1]))).T + b * lr, 0.2) * math.sqrt(2)
        i += 1
    return x


def nvidia_synthesis(s: dict, ws: torch.Tensor, conv_clamp: float | None = None) -> torch.Tensor:
    n, w_dim = ws.shape[0], ws.shape[2]

    def clamp(y):
        return y.clamp(-conv_clamp, conv_clamp) if conv_clamp is not None else y

    def layer(p, x, w, up):
        st = w @ (s[f"{p}.affine.weight"] / math.sqrt(w_dim)).T + s[f"{p}.affine.bias"]
        weight = s[f"{p}.weight"][None] * st[:, None, :, None, None]
        weight = weight * torch.rsqrt(weight.square().sum([2, 3, 4], keepdim=True) + 1e-8)
        cout, cin = weight.shape[1:3]
        xb = x.reshape(1, n * cin, *x.shape[2:])
        if up:
            wt = weight.transpose(1, 2).reshape(n * cin, cout, 3, 3)
            y = F.conv_transpose2d(xb, wt, stride=2, groups=n).reshape(n, cout, *([2 * x.shape[2] + 1] * 2))
            y = _fir(y, s[f"{p}.resample_filter"] * 4, (1, 1, 1, 1))
        else:
            y = F.conv2d(xb, weight.reshape(n * cout, cin, 3, 3), padding=1, groups=n)
            y = y.reshape(n, cout, *x.shape[2:])
        y = y + s[f"{p}.noise_const"] * s[f"{p}.noise_strength"]
        return clamp(F.leaky_relu(y + s[f"{p}.bias"][None, :, None, None], 0.2) * math.sqrt(2))

    def torgb(p, x, w):
        st = (w @ (s[f"{p}.affine.weight"] / math.sqrt(w_dim)).T + s[f"{p}.affine.bias"])
        st = st / math.sqrt(x.shape[1])
        y = torch.einsum("oi,ni,nihw->nohw", s[f"{p}.weight"][:, :, 0, 0], st, x)
        return clamp(y + s[f"{p}.bias"][None, :, None, None])

    res = max(int(m.group(1)) for k in s if (m := re.match(r"synthesis\.b(\d+)\.", k)))
    x = s["synthesis.b4.const"][None].repeat(n, 1, 1, 1)
    x = layer("synthesis.b4.conv1", x, ws[:, 0], False)
    img = torgb("synthesis.b4.torgb", x, ws[:, 1])
    for k in range(3, int(math.log2(res)) + 1):
        b = f"synthesis.b{2**k}"
        x = layer(f"{b}.conv0", x, ws[:, 2 * k - 5], True)
        x = layer(f"{b}.conv1", x, ws[:, 2 * k - 4], False)
        up = img.new_zeros(n, 3, 2 * img.shape[2], 2 * img.shape[3])
        up[:, :, ::2, ::2] = img
        img = _fir(up, s[f"{b}.resample_filter"] * 4, (2, 1, 2, 1)) + torgb(f"{b}.torgb", x, ws[:, 2 * k - 3])
    return img


# ------------------------------------------------------------------------------------------
# Fixtures.


def _load_fixture_state():
    from safetensors.torch import load_file

    state_file = shared_path(*NV_DIR, "nvidia_64_state.safetensors")
    order = json.loads(shared_path(*NV_DIR, "key_shapes_64.json").read_text())
    state = load_file(str(state_file))
    return {k: state[k] for k in order}, load_file(str(shared_path(*NV_DIR, "nvidia_64_reference.safetensors")))


@pytest.fixture(scope="module")
def nvidia64(tmp_path_factory):
    """(pickle path, NVIDIA state in module order, reference tensors)."""
    state, ref = _load_fixture_state()
    path = write_nvidia_pickle(tmp_path_factory.mktemp("nv") / "nvidia-64.pkl", state)
    return path, state, ref


@pytest.fixture(scope="module")
def teacher64(nvidia64):
    import ganlift

    torch.set_num_threads(1)
    return ganlift.load_teacher(str(nvidia64[0]), w_mean_samples=W_SAMPLES)


def _tiny_state(**kw):
    shapes = nvidia_key_shapes(16, {4: 16, 8: 16, 16: 8}, w_dim=32, z_dim=32, n_fc=kw.pop("n_fc", 2))
    return random_nvidia_state(shapes, **kw)


# ------------------------------------------------------------------------------------------
# The restricted unpickler.


def test_reads_records_without_importing_nvidia_code(tmp_path):
    sentinel = tmp_path / "source-was-executed"
    state = _tiny_state()
    FakeNet.module_src = f"open({str(sentinel)!r}, 'w').write('ran')\nclass Generator: pass\n"
    try:
        path = write_nvidia_pickle(tmp_path / "g.pkl", state)
    finally:
        FakeNet.module_src = "# training/networks.py (text only)\n"
    assert "torch_utils" not in sys.modules and "dnnlib" not in sys.modules
    data = nvidia.read_nvidia_pickle(path)
    assert not sentinel.exists()  # the embedded source was never executed
    assert "torch_utils" not in sys.modules and "dnnlib" not in sys.modules
    assert sorted(data) == ["D", "G", "G_ema", "augment_pipe", "training_set_kwargs"]
    g = nvidia.find_generator(data)
    assert isinstance(g, PersistentRecord) and g.class_name == "Generator" and g.version == 6
    assert g.module_src.startswith("open(") and "Generator" in g.module_src  # inert text
    assert g.children["synthesis"].class_name == "SynthesisNetwork"
    assert g.children["mapping"].children["fc0"].class_name == "FullyConnectedLayer"
    assert data["training_set_kwargs"]["resolution"] == 64
    assert g.get("mapping_kwargs")["num_layers"] == 2  # EasyDict stand-in is a dict
    fc0 = g.children["mapping"].children["fc0"]
    assert isinstance(fc0.state["weight_gain"], np.floating)  # numpy scalar stand-in
    assert fc0.state["weight_gain"] == pytest.approx(0.01 / math.sqrt(32))
    sd = nvidia.record_state_dict(g)
    assert list(sd) == list(state)  # nn.Module order: parameters, buffers, children
    for k, v in state.items():
        assert sd[k].dtype == torch.float32 and torch.equal(sd[k], v), k
    # G holds other weights: the loader must read G_ema by default.
    g_raw = nvidia.record_state_dict(nvidia.find_generator(data, "G"))
    assert torch.equal(g_raw["synthesis.b4.const"], -state["synthesis.b4.const"])
    with pytest.raises(KeyError, match="G_ema.*'D'"):
        nvidia.find_generator({"D": data["D"]})


def _global_pickle(module: str, name: str, arg: str) -> bytes:
    """A protocol-0 pickle calling ``module.name(arg)``."""
    return f"c{module}\n{name}\n(V{arg}\ntR.".encode()


@pytest.mark.parametrize("module,name", [
    ("os", "system"), ("posix", "system"), ("subprocess", "call"), ("builtins", "exec"),
    ("builtins", "eval"), ("builtins", "open"), ("torch", "load"), ("numpy", "load"),
    ("torch_utils.persistence", "persistent_class"), ("dnnlib.util", "call_func_by_name"),
    ("torch._utils", "_rebuild_device_tensor_from_numpy"), ("pickle", "loads"),
])
def test_refuses_any_other_global(tmp_path, module, name):
    target = tmp_path / "created"
    arg = f"touch {target}" if name in ("system", "call") else str(target)
    if name in ("exec", "eval"):
        arg = f"open({str(target)!r}, 'w')"
    path = tmp_path / "evil.pkl"
    path.write_bytes(_global_pickle(module, name, arg))
    with pytest.raises(RefusedGlobalError, match=re.escape(f"{module}.{name}")):
        nvidia.read_nvidia_pickle(path)
    assert not target.exists()


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


@pytest.mark.parametrize("protocol", [2, 3, 5])
def test_older_and_newer_pickle_protocols(tmp_path, protocol):
    """Python 3.7 wrote protocol 3 (sets via builtins.set); 3.8+ writes 4; 5 exists too."""
    state = _tiny_state()
    path = write_nvidia_pickle(tmp_path / "p.pkl", state, protocol=protocol)
    sd = nvidia.record_state_dict(nvidia.find_generator(nvidia.read_nvidia_pickle(path)))
    assert list(sd) == list(state) and all(torch.equal(sd[k], v) for k, v in state.items())


def test_refuses_a_call_hidden_inside_the_generator(tmp_path):
    """os.system buried in a layer's state: refused when met, nothing runs, no file appears."""
    import ganlift

    target = tmp_path / "pwned"
    state = _tiny_state()
    with fake_nvidia_modules() as (_, EasyDict):
        g = build_generator(state, EasyDict=EasyDict)
        g.synthesis.b8.conv0.payload = _Evil(target)
        path = tmp_path / "evil.pkl"
        path.write_bytes(pickle.dumps({"G_ema": g}))
    with pytest.raises(RefusedGlobalError, match=r"refused global (posix|os|nt)\.system"):
        ganlift.load_teacher(str(path))
    assert not target.exists()
    # Control: with a plain pickle.load the same file would have run the command.
    with fake_nvidia_modules(runnable=True):
        pickle.loads(path.read_bytes())
    assert target.exists()


def test_rejects_malformed_tensor_records(tmp_path):
    # A tensor whose view reaches past its storage is refused, not read out of bounds.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage deprecation
        storage_bytes = torch.zeros(4).storage().__reduce__()[1][0]

    class BadTensor:
        def __reduce__(self):
            args = (_Storage(), 0, (100,), (1,), False, collections.OrderedDict())
            return (torch._utils._rebuild_tensor_v2, args)

    class _Storage:
        def __reduce__(self):
            from torch.storage import _load_from_bytes
            return (_load_from_bytes, (storage_bytes,))

    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps({"x": BadTensor()}))
    with pytest.raises(pickle.UnpicklingError, match="invalid tensor layout"):
        nvidia.read_nvidia_pickle(path)
    path.write_bytes(pickle.dumps({"x": torch.arange(6.0).reshape(2, 3).t()}))
    assert torch.equal(nvidia.read_nvidia_pickle(path)["x"], torch.arange(6.0).reshape(2, 3).t())


# ------------------------------------------------------------------------------------------
# Key map and parity with NVIDIA's own outputs.


def test_key_map_matches_the_verified_map(nvidia64):
    _, state, _ = nvidia64
    key_map = json.loads(shared_path(*NV_DIR, "key_map_64.json").read_text())
    ros, w_mean = nvidia.nvidia_to_rosinality(state)
    expected = {entry["rosinality_key"]: (nv_key, entry["rosinality_shape"])
                for nv_key, entry in key_map.items()
                if entry.get("rosinality_key") and nv_key != "mapping.w_avg"}
    assert len(expected) == 99 and "style.8.weight" in expected
    assert set(ros) == set(expected)
    for rkey, (nv_key, shape) in expected.items():
        assert list(ros[rkey].shape) == shape, rkey
        want = state[nv_key] * (4 if nv_key.endswith("resample_filter") else 1)
        assert torch.equal(ros[rkey].flatten(), want.flatten()), rkey  # values never flipped
    assert torch.equal(w_mean, state["mapping.w_avg"][None])


def test_config_read_from_the_pickle(nvidia64):
    g = nvidia.find_generator(nvidia.read_nvidia_pickle(nvidia64[0]))
    cfg = nvidia.generator_config(g)
    assert cfg["z_dim"] == cfg["w_dim"] == 512 and cfg["c_dim"] == 0
    assert cfg["img_resolution"] == 64 and cfg["num_ws"] == 10 and cfg["mapping_layers"] == 8
    assert cfg["conv_clamp"] is None and cfg["architecture"] == "skip"
    assert cfg["channels"] == {4: 64, 8: 64, 16: 64, 32: 32, 64: 16}
    assert cfg["mapping_lr"] == pytest.approx(0.01)


def test_parity_with_nvidia_reference(nvidia64, teacher64):
    _, _, ref = nvidia64
    t = teacher64
    assert (t.z_dim, t.w_dim, t.num_ws, t.resolution) == (512, 512, 10, 64)
    assert t.name == "nvidia-64"
    assert torch.equal(t.w_mean, ref["w_avg"][None])
    with torch.no_grad():
        w = t.mapping(ref["z"])
        assert (w - ref["ws"][:, 0]).abs().max() < 2e-5
        for i in range(10):
            assert (t.mapping(ref["z_layers"][:, i]) - ref["ws_distinct"][:, i]).abs().max() < 2e-5
        assert (t.truncate(w, 0.7) - ref["ws_trunc"][:, 0]).abs().max() < 2e-5
        cases = {"images": "ws", "images_trunc": "ws_trunc", "images_mix": "ws_mix",
                 "images_distinct": "ws_distinct"}
        for img_key, ws_key in cases.items():
            err = (t.synthesis(ref[ws_key]) - ref[img_key]).abs().max().item()
            assert err < 1e-4, (img_key, err)
        # One w for all layers is the broadcast form of ws.
        assert (t.synthesis(ref["ws"][:, 0]) - ref["images"]).abs().max() < 1e-4


def test_independent_forward_matches_reference(nvidia64):
    """The test's own NVIDIA forward is right, so the clamp tests below can trust it."""
    _, state, ref = nvidia64
    with torch.no_grad():
        assert (nvidia_mapping(state, ref["z"]) - ref["ws"][:, 0]).abs().max() < 2e-5
        assert (nvidia_synthesis(state, ref["ws_distinct"]) - ref["images_distinct"]).abs().max() < 1e-4


# ------------------------------------------------------------------------------------------
# Configurations of real checkpoints: conv_clamp=256, 2-layer mapping, other gains.


@pytest.mark.parametrize("case", ["clamp256_map2", "clamp_off_map2", "map3_lr"])
def test_real_checkpoint_configs(tmp_path, case):
    import ganlift

    clamp = 256.0 if case == "clamp256_map2" else None
    n_fc, lr = (3, 0.05) if case == "map3_lr" else (2, 0.01)
    # Conv biases of 300 push many activations past 256, so the clamp really acts.
    state = _tiny_state(n_fc=n_fc, seed=3, conv_bias_scale=300.0 if clamp else 0.1, lr=lr)
    path = write_nvidia_pickle(tmp_path / f"{case}.pkl", state, conv_clamp=clamp, lr=lr,
                               z_dim=32, w_dim=32)
    t = ganlift.load_teacher(str(path), w_mean_samples=W_SAMPLES)
    assert (t.z_dim, t.w_dim, t.num_ws, t.resolution, t.n_mlp) == (32, 32, 6, 16, n_fc)
    assert t.conv_clamp == clamp
    assert torch.equal(t.w_mean, state["mapping.w_avg"][None])
    z = torch.randn(3, 32, generator=torch.Generator().manual_seed(0))
    ws_distinct = torch.randn(3, 6, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        w = t.mapping(z)
        assert torch.allclose(w, nvidia_mapping(state, z, lr), atol=2e-5, rtol=1e-5)
        want = nvidia_synthesis(state, ws_distinct, clamp)
        got = t.synthesis(ws_distinct)
        scale = want.abs().max().item()
        assert (got - want).abs().max().item() < 1e-4 * max(1.0, scale / 4)
        if clamp:
            unclamped = nvidia_synthesis(state, ws_distinct, None)
            assert (unclamped - want).abs().max() > 10.0  # the clamp matters in this file


def test_two_layer_mapping_key_counts(tmp_path):
    state = _tiny_state(n_fc=2)
    ros, _ = nvidia.nvidia_to_rosinality(state)
    assert sorted(k for k in ros if k.startswith("style.")) == [
        "style.1.bias", "style.1.weight", "style.2.bias", "style.2.weight"]


# ------------------------------------------------------------------------------------------
# Refusals with clear messages.


@pytest.mark.parametrize("numpy_arrays", [False, True])
def test_refuses_stylegan3(tmp_path, numpy_arrays):
    """Refused with a clear message, whether or not its numpy-array attributes stop unpickling."""
    import ganlift

    state = {
        "synthesis.input.weight": torch.randn(8, 4), "synthesis.input.affine.weight": torch.randn(4, 32),
        "synthesis.input.affine.bias": torch.randn(4), "synthesis.input.freqs": torch.randn(8, 2),
        "synthesis.L0_36_512.weight": torch.randn(8, 8, 3, 3), "synthesis.L0_36_512.bias": torch.randn(8),
        "mapping.fc0.weight": torch.randn(32, 32), "mapping.fc0.bias": torch.randn(32),
        "mapping.w_avg": torch.randn(32),
    }
    extra = {"synthesis.L0_36_512": {"in_size": np.array([36, 36])}} if numpy_arrays else None
    path = write_nvidia_pickle(tmp_path / "sg3.pkl", state, z_dim=32, w_dim=32, extra_attrs=extra)
    with pytest.raises(ValueError, match="StyleGAN3.*StyleGAN2 generators only"):
        ganlift.load_teacher(str(path))


def test_refuses_conditional_models(tmp_path):
    import ganlift

    state = _tiny_state()
    state["mapping.embed.weight"] = torch.randn(32, 10)
    state["mapping.embed.bias"] = torch.randn(32)
    path = write_nvidia_pickle(tmp_path / "cond.pkl", state, c_dim=10, z_dim=32, w_dim=32)
    with pytest.raises(ValueError, match=r"class-conditional \(c_dim=10\).*label"):
        ganlift.load_teacher(str(path))


def test_refuses_unknown_or_missing_keys():
    state = _tiny_state()
    with pytest.raises(KeyError, match="synthesis.b8.torgb.extra"):
        nvidia.nvidia_to_rosinality({**state, "synthesis.b8.torgb.extra": torch.zeros(1)})
    broken = dict(state)
    del broken["synthesis.b16.conv0.affine.bias"]
    with pytest.raises(KeyError, match="synthesis.b16.conv0.affine.bias"):
        nvidia.nvidia_to_rosinality(broken)


# ------------------------------------------------------------------------------------------
# `ganlift convert`.


def test_convert_writes_a_pickle_free_teacher(tmp_path, nvidia64, teacher64):
    import ganlift
    from ganlift.cli import main

    out = tmp_path / "converted"
    assert main(["convert", str(nvidia64[0]), str(out), "--w-samples", str(W_SAMPLES)]) == 0
    assert (out / "teacher.safetensors").exists()
    assert not any(p.suffix == ".pkl" for p in out.iterdir())
    t = ganlift.load_teacher(str(out))
    ref = nvidia64[2]
    assert torch.equal(t.w_mean, teacher64.w_mean)
    with torch.no_grad():
        assert torch.equal(t.synthesis(ref["ws_distinct"]), teacher64.synthesis(ref["ws_distinct"]))


def test_convert_reports_refusals(tmp_path, capsys):
    from ganlift.cli import main

    path = tmp_path / "evil.pkl"
    target = tmp_path / "created"
    path.write_bytes(_global_pickle("os", "system", f"touch {target}"))
    assert main(["convert", str(path), str(tmp_path / "out")]) == 1
    assert "refused global os.system" in capsys.readouterr().err
    assert not target.exists() and not (tmp_path / "out").exists()
