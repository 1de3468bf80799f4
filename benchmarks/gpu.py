"""Steps per second and peak memory of the paper's FFHQ-256 set-up, and its 50k-step time.

A random-weight StyleGAN2 with the paper's narrow channel table at 256x256, the ``faces``
recipe with every term on (random VGG16 and ResNet-18 weights stand in for the perceptual
and identity networks, so each term runs at its real cost), batch 8. It runs ``--steps``
optimiser steps after a warm-up and prints steps per second, seconds per step, the peak
memory and the time the recipe's 50,000 steps would take (the official code: about one
GPU-day, ~1.7 s per step on an RTX 6000).

Options turn on what ``[train]`` offers: ``--precision bf16`` (autocast; the renderer's
coordinates stay in float32), ``--channels-last``, ``--compile BACKEND`` (torch.compile of the
five networks).

Usage::

    python benchmarks/gpu.py --device cuda
    python benchmarks/gpu.py --device cuda --precision bf16 --channels-last --compile inductor
    python benchmarks/gpu.py --device cpu --size 64 --steps 3      # the same code path on a CPU
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lift_step import _setup  # noqa: E402  (the same set-up as the step benchmark)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, default=256, choices=[64, 128, 256, 512])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", default="", metavar="BACKEND")
    args = parser.parse_args()
    device = torch.device(args.device)

    from ganlift.train import TrainSettings, _accelerate

    with tempfile.TemporaryDirectory() as tmp:
        teacher, lifter, label = _setup(args.size, args.batch, Path(tmp))
        lifter.to(device).train()
        lifter.loss_set  # noqa: B018  (reads the random weights files in tmp)
    settings = TrainSettings(channels_last=args.channels_last, compile=args.compile, precision=args.precision)
    _accelerate(lifter, settings)
    opt = torch.optim.Adam([p for p in lifter.parameters() if p.requires_grad], lr=1e-4)
    gen = torch.Generator(device=device).manual_seed(0)

    def step() -> None:
        w = lifter.sample_w(args.batch, generator=gen)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            total, _ = lifter.compute_losses(w, gen)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(3):  # warm-up (and compilation)
        step()
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    per_step = (time.perf_counter() - start) / args.steps
    if device.type == "cuda":
        peak = f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB allocated (CUDA peak)"
    else:
        peak = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB resident (process peak)"
    total_steps = int(lifter.recipe.train.steps)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"== {label}: batch {args.batch}, {name}, precision {args.precision}, "
          f"channels_last {args.channels_last}, compile {args.compile or 'off'}")
    print(f"  {1 / per_step:.2f} steps/s, {per_step:.3f} s/step, peak memory {peak}")
    print(f"  the recipe's {total_steps} steps: {total_steps * per_step / 3600:.2f} h "
          f"(official code: ~24 h, ~1.7 s/step on an RTX 6000)")


if __name__ == "__main__":
    main()
