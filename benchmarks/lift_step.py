"""Time of one lifting step and its parts, and its ratio to one teacher forward+backward.

Two set-ups (``--sizes``):

* 64: the ``synthetic-faces`` teacher at 64x64 with the ``synthetic`` recipe (CPU-sized:
  reconstruction, flip, albedo rank), or with ``--recipe synthetic-full`` every term of the
  full objective (the schedule's warm-up is not applied: each enabled term at full weight);
* 256: a random-weight StyleGAN2 with the paper's narrow channel table
  (``random_stylegan2(256, channels=NARROW_CHANNELS, w_dim=512, n_mlp=8)``) with the ``faces``
  recipe; VGG16 (perceptual) and ResNet-18 (identity) get random weights written to a
  temporary folder, so every term of the paper's loss is computed at its real cost.

A step is what ``ganlift.train`` does: draw codes, ``compute_losses``, ``backward``, Adam.
Its forward is split by timing every call of the parts, each time exclusive of the parts it
calls (a loss term that triggers a render counts the render under "renders"):

* teacher passes: ``teacher.synthesis`` (target G(w), G(w0), G(w'), ...),
* networks: the view, light, manipulation, shape and transform decoders,
* renders: ``renderer.render``,
* losses: the loss terms themselves (distances, VGG16, identity network, ...), per term,
* other: what is left (depth/T/albedo maps, shading, resizes).

Backward and the optimiser step are timed as wholes; the isolated forward+backward of the
teacher, of one render and of the networks show where the backward time goes.

Usage::

    python benchmarks/lift_step.py                       # CPU, sizes 64 and 256
    python benchmarks/lift_step.py --sizes 64 --batch 8 --repeats 5
    python benchmarks/lift_step.py --sizes 64 --recipe synthetic-full   # all terms on
    python benchmarks/lift_step.py --device cuda --batch 8
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

from ganlift.train import can_fuse_adam


class Parts:
    """Exclusive wall time per category over nested, wrapped calls."""

    def __init__(self, device: torch.device, clock=time.perf_counter) -> None:
        self.device = device
        self.clock = clock
        self.stack: list[list[float]] = []
        self.totals: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return self.clock()

    def wrap(self, category: str, fn):
        def timed(*args, **kwargs):
            self.stack.append([self._now(), 0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                start, children = self.stack.pop()
                spent = self._now() - start
                self.totals[category] += spent - children
                self.counts[category] += 1
                if self.stack:
                    self.stack[-1][1] += spent

        return timed

    def reset(self) -> None:
        self.totals.clear()
        self.counts.clear()


def _weights_files(folder: Path) -> tuple[str, str]:
    """Random-weight VGG16 and ResNet-18 (512-d) state dicts, as a user would supply them."""
    import timm
    from safetensors.torch import save_file

    vgg, ident = folder / "vgg16.safetensors", folder / "resnet18.safetensors"
    torch.manual_seed(0)
    save_file({k: v.contiguous() for k, v in timm.create_model("vgg16").state_dict().items()}, str(vgg))
    net = timm.create_model("resnet18", num_classes=512)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(ident))
    return str(vgg), str(ident)


def _setup(size: int, batch: int, tmp: Path, recipe_name: str = "synthetic"):
    import ganlift
    from ganlift.recipe import load_recipe

    common = {"teacher.prior_samples": 2000, "train.batch_size": batch}
    if size == 64:
        teacher = ganlift.load_teacher("synthetic-faces", resolution=64)
        recipe = load_recipe(recipe_name, common)
        label = f"synthetic-faces 64, recipe {recipe_name}"
    else:
        from ganlift.teachers.stylegan2 import NARROW_CHANNELS, random_stylegan2

        teacher = random_stylegan2(size, channels=NARROW_CHANNELS, w_dim=512, n_mlp=8,
                                   w_mean_samples=2000)
        vgg, ident = _weights_files(tmp)
        recipe = load_recipe("faces", {**common, "lifter.resolution": size,
                                       "distance.perceptual_weights": vgg,
                                       "losses.identity.weights": ident})
        label = f"random narrow StyleGAN2 {size}, recipe faces (random VGG16/ResNet-18)"
    torch.manual_seed(0)
    return teacher, ganlift.Lifter(teacher, recipe), label


def _instrument(lifter, parts: Parts) -> None:
    teacher = lifter.teacher  # synthesis only: the mapping runs when codes are drawn
    teacher.synthesis = parts.wrap("teacher passes", teacher.synthesis)
    lifter.renderer.render = parts.wrap("renders", lifter.renderer.render)
    for name in ("view_decoder", "light_decoder", "manipulation", "shape_decoder",
                 "transform_decoder"):
        module = getattr(lifter, name)
        module.forward = parts.wrap("networks", module.forward)
    for name, term in lifter.loss_set.terms.items():
        term.forward = parts.wrap(f"losses/{name}", term.forward)


def _isolated(fn, device, repeats: int, clock) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = clock()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(clock() - t)
    return statistics.median(times)


def bench(size: int, batch: int, repeats: int, device: torch.device, clock, recipe: str = "synthetic") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        teacher, lifter, label = _setup(size, batch, Path(tmp), recipe)
        lifter.to(device).train()
        lifter.loss_set  # noqa: B018  (built now: it reads the weights files in tmp)
    params = [p for p in lifter.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-4, fused=can_fuse_adam(params))  # as ganlift.train builds it
    gen = torch.Generator(device=device).manual_seed(0)
    parts = Parts(device, clock)
    _instrument(lifter, parts)
    stages = Parts(device, clock)

    def step() -> None:
        w = stages.wrap("sample w", lifter.sample_w)(batch, generator=gen)
        total, _ = stages.wrap("forward", lifter.compute_losses)(w, gen)
        opt.zero_grad(set_to_none=True)
        stages.wrap("backward", total.backward)()
        stages.wrap("optimizer", opt.step)()

    step()  # warm-up: builds the loss set, Adam state, allocator caches
    runs = []
    for _ in range(repeats):
        parts.reset(), stages.reset()
        step()
        runs.append(({**stages.totals}, {**parts.totals}, {**parts.counts}))
    # Report one coherent step: the one with the median total time.
    runs.sort(key=lambda r: sum(r[0].values()))
    med, fwd_parts, calls = runs[len(runs) // 2]
    parts_of_median = dict(fwd_parts)
    step_time = sum(med.values())

    # Isolated references at the same batch size (un-instrumented functions).
    syn = type(teacher).synthesis.__get__(teacher)
    w = lifter.sample_w(batch, generator=torch.Generator(device=device).manual_seed(1))

    def teacher_fb():
        x = w.detach().requires_grad_(True)
        syn(x).square().mean().backward()

    def teacher_f():
        with torch.no_grad():
            syn(w)

    with torch.no_grad():
        p = lifter.decompose(w)
    render = type(lifter.renderer).render.__get__(lifter.renderer)
    maps = [p[k].detach() for k in ("albedo", "depth", "transform", "view", "light")]

    def render_fb():
        xs = [m.clone().requires_grad_(True) for m in maps]
        render(*xs).image.mean().backward()

    t_teacher_fb = _isolated(teacher_fb, device, repeats, clock)
    t_teacher_f = _isolated(teacher_f, device, repeats, clock)
    t_render_fb = _isolated(render_fb, device, repeats, clock)

    ms = lambda s: f"{1000 * s:9.1f} ms"  # noqa: E731
    n_params = sum(p.numel() for p in params)
    kind = "CPU time" if clock is time.process_time else "wall time"
    print(f"\n== {label}: batch {batch}, {device}, {torch.get_num_threads()} threads, {kind}, "
          f"lifter {n_params / 1e6:.2f} M parameters, the median of {repeats} steps")
    print(f"  one training step            {ms(step_time)}")
    print(f"    draw codes                 {ms(med['sample w'])}")
    print(f"    forward (compute_losses)   {ms(med['forward'])}")
    other = med["forward"] - sum(fwd_parts.values())
    terms = sorted(k for k in fwd_parts if k.startswith("losses/"))
    fwd_parts["losses"] = sum(fwd_parts.pop(k) for k in terms)
    calls["losses"] = sum(calls.get(k, 0) for k in terms)
    for k in ("teacher passes", "networks", "renders", "losses"):
        print(f"      {k:<24} {ms(fwd_parts.get(k, 0.0))}   ({calls.get(k, 0)} calls)")
    for k in terms:
        print(f"        {k[7:]:<22} {ms(parts_of_median[k])}")
    print(f"      {'other (maps, shading)':<24} {ms(other)}")
    print(f"    backward                   {ms(med['backward'])}")
    print(f"    optimizer step             {ms(med['optimizer'])}")
    print(f"  isolated: teacher fwd        {ms(t_teacher_f)}")
    print(f"  isolated: teacher fwd+bwd    {ms(t_teacher_fb)}")
    print(f"  isolated: one render fwd+bwd {ms(t_render_fb)}")
    print(f"  step / teacher fwd+bwd       {step_time / t_teacher_fb:9.2f} x")
    if device.type == "cuda":
        print(f"  peak memory                  {torch.cuda.max_memory_allocated(device) / 2**20:9.0f} MiB (CUDA)")
    else:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  peak memory                  {rss:9.0f} MiB (process peak so far; run one --sizes for one set-up)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256], choices=[64, 128, 256, 512])
    parser.add_argument("--batch", type=int, default=None,
                        help="codes per step (default: 8 at 64, 2 at larger sizes on CPU, 8 on GPU)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--recipe", default="synthetic",
                        help="recipe of the 64 set-up (synthetic-full: every term of the full objective)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall time, or this process's CPU time (steadier on a shared "
                             "machine; with --threads 1 it approximates an idle core's wall time)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    for size in args.sizes:
        batch = args.batch or (8 if size == 64 or device.type == "cuda" else 2)
        clock = time.perf_counter if args.clock == "wall" else time.process_time
        bench(size, batch, args.repeats, device, clock, args.recipe)


if __name__ == "__main__":
    main()
