"""Renderer speed: forward and forward+backward time and peak memory, against a StyleGAN2 teacher.

For each size (default 64, 128, 256; batch 8) it times

* ``render fwd``: ``renderer.render(albedo, depth, transform, view, light)`` without grad,
* ``render fwd+bwd``: the same with grad on every input, then ``backward`` of an image loss,
* ``teacher fwd+bwd``: a random StyleGAN2 with the paper's narrow channel table
  (``ganlift.teachers.stylegan2.random_stylegan2(size, channels=NARROW_CHANNELS, w_dim=512,
  n_mlp=8)``), ``synthesis(w)`` then ``backward`` into ``w`` (as in the lifter's losses),

and prints the ratio render fwd+bwd / teacher fwd+bwd (issue target at 256: <= 0.15). On the CPU
the renderer uses its compiled kernels (:mod:`ganlift.render.native`); ``GANLIFT_NATIVE=0``
times the pure-PyTorch code instead.
Each measurement runs in a fresh subprocess so the peak resident memory (CPU) or peak
allocated memory (CUDA) belongs to that measurement alone.

Usage::

    python benchmarks/render.py                      # CPU, sizes 64 128 256, batch 8
    python benchmarks/render.py --device cuda --sizes 256 512 --batch 16
    python benchmarks/render.py --backend pytorch3d  # where pytorch3d imports
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _scene(size: int, batch: int, device: str, seed: int = 0, noisy: bool = False):
    """Face-like inputs: a smooth symmetric head plus smooth random bumps (or per-pixel noise
    with ``noisy``, like an untrained depth decoder), a smooth T, the paper's pose ranges."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    lin = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    face = 1.0 - 0.06 * torch.exp(-(xx**2 + (yy + 0.1) ** 2) * 3) - 0.02 * torch.exp(-(xx**2 * 40 + yy**2 * 6))

    def smooth(n):  # random field with features ~1/8 of the image
        return F.interpolate(torch.randn(batch, 1, 8, 8, generator=g), size=size, mode="bicubic", align_corners=True)

    depth = face.expand(batch, 1, size, size) + 0.01 * smooth(8)
    if noisy:
        depth = depth + 0.005 * torch.randn(batch, 1, size, size, generator=g)
    albedo = torch.rand(batch, 3, size, size, generator=g)
    transform = (0.9 + 0.1 * smooth(8)).clamp(0, 1)
    if noisy:
        transform = (transform + 0.1 * torch.randn(batch, 1, size, size, generator=g)).clamp(0, 1)
    view = torch.cat([(torch.rand(batch, 3, generator=g) * 2 - 1) * torch.tensor([15.0, 45.0, 5.0]),
                      (torch.rand(batch, 3, generator=g) * 2 - 1) * torch.tensor([0.05, 0.05, 0.01])], 1)
    light = torch.cat([torch.rand(batch, 2, generator=g), torch.randn(batch, 2, generator=g) * 0.5], 1)
    return [t.to(device) for t in (albedo, depth, transform, view, light)]


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def worker(args) -> dict:
    """One measurement in this process; returns seconds per call and peak memory (MiB)."""
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device, size, batch = args.device, args.size, args.batch
    if args.what == "teacher":
        from ganlift.teachers.stylegan2 import NARROW_CHANNELS, random_stylegan2

        teacher = random_stylegan2(size, channels=NARROW_CHANNELS, w_dim=512, n_mlp=8, w_mean_samples=256).to(device)
        w = teacher.w_mean.expand(batch, -1).clone() + 0.1 * torch.randn(batch, teacher.w_dim, device=device)

        def step():
            x = w.clone().requires_grad_(True)
            teacher.synthesis(x).square().mean().backward()
    else:
        import ganlift.render.torch_backend  # noqa: F401  (registers "torch")
        from ganlift.render import create

        if args.backend == "pytorch3d":
            import ganlift.render.pytorch3d_backend  # noqa: F401
        renderer = create(args.backend, size=size, fov=10.0)
        inputs = _scene(size, batch, device, noisy=args.noisy)

        if args.what == "fwd":
            def step():
                with torch.no_grad():
                    renderer.render(*inputs)
        else:
            def step():
                xs = [t.clone().requires_grad_(True) for t in inputs]
                out = renderer.render(*xs)
                (out.image.square().mean() + out.depth.mean()).backward()

    _sync(device)
    base = _rss_mib()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2**20
    step()  # warm-up, also the peak-memory probe
    _sync(device)
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**20 - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    times, cpu = [], []
    for _ in range(args.reps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"seconds": min(times), "cpu_seconds": min(cpu), "peak_mib": max(peak, 0.0)}


def measure(what: str, size: int, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", what, "--size", str(size), "--batch", str(args.batch),
           "--device", args.device, "--reps", str(args.reps), "--threads", str(args.threads),
           "--backend", args.backend] + (["--noisy"] if args.noisy else [])
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.returncode}"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (same for both sides)")
    p.add_argument("--backend", default="torch")
    p.add_argument("--noisy", action="store_true", help="per-pixel noise in depth and T (untrained-decoder-like)")
    p.add_argument("--no-teacher", action="store_true", help="skip the StyleGAN2 comparison")
    p.add_argument("--worker", choices=["fwd", "fwdbwd", "teacher"], help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        args.what = args.worker
        print(json.dumps(worker(args)))
        return 0

    # On a shared CPU, process time is steadier than wall time; on CUDA only wall time counts.
    key = "seconds" if args.device.startswith("cuda") else "cpu_seconds"
    print(f"backend={args.backend} device={args.device} batch={args.batch} threads={args.threads} "
          f"scene={'noisy' if args.noisy else 'smooth'} best of {args.reps}; "
          f"times: wall s (cpu s); ratio = render fwd+bwd / teacher fwd+bwd on {key}")
    print(f"{'size':>5} {'fwd':>15} {'MiB':>6} {'fwd+bwd':>15} {'MiB':>6} {'teacher f+b':>15} {'MiB':>6} {'ratio':>6}")
    for size in args.sizes:
        fwd = measure("fwd", size, args)
        fb = measure("fwdbwd", size, args)
        te = {"error": "skipped"} if args.no_teacher else measure("teacher", size, args)

        def t(m):
            return f"{m['seconds']:.3f} ({m['cpu_seconds']:.3f})" if "seconds" in m else "n/a"

        def mib(m):
            return f"{m['peak_mib']:.0f}" if "peak_mib" in m else "n/a"

        ratio = fb[key] / te[key] if key in fb and key in te else float("nan")
        print(f"{size:>5} {t(fwd):>15} {mib(fwd):>6} {t(fb):>15} {mib(fb):>6} {t(te):>15} {mib(te):>6} {ratio:>6.2f}")
        for name, m in (("fwd", fwd), ("fwd+bwd", fb), ("teacher", te)):
            if "error" in m and m["error"] != "skipped":
                print(f"      {name}: {m['error']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
