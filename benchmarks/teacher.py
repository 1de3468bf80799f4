"""CPU timing of the StyleGAN2 teacher (prints figures; asserts nothing).

Forward (batch 8, one w broadcast to all layers) and forward+backward (gradient w.r.t. w
only; the teacher is frozen) at resolution 64 and 256, with the LiftedGAN paper's narrow
channel table and with config-f (the fused modulated-conv form; ``--grouped`` adds the
per-sample-weight form).
Weights are random (timing does not depend on their values). Later issues quote ratios
against these numbers.

    python benchmarks/teacher.py [--threads 2] [--repeats 3] [--batch 8] [--device cpu] [--grouped]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from ganlift.teachers.stylegan2 import CONFIG_F_CHANNELS, NARROW_CHANNELS, random_stylegan2


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 256])
    parser.add_argument(
        "--grouped", action="store_true",
        help="also time the literal per-sample-weight (grouped conv) form (slow on CPU)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"device {device}, threads {args.threads}, batch {args.batch}, median of {args.repeats}"
    )
    print(
        f"{'table':9} {'res':>4} {'params':>8} {'modconv':8} {'forward ms':>11} "
        f"{'fwd+bwd ms':>11} {'bwd/fwd':>8}"
    )
    for res in args.resolutions:
        for table_name, table in (("narrow", NARROW_CHANNELS), ("config-f", CONFIG_F_CHANNELS)):
            teacher = random_stylegan2(res, 512, 8, table, seed=0, w_mean_samples=256).to(device)
            params = sum(p.numel() for p in teacher.parameters()) / 1e6
            w = teacher.sample_w(args.batch, seed=0).to(device)
            for mode in ("fused", "grouped") if args.grouped else ("fused",):
                teacher.modconv = mode

                def forward() -> None:
                    with torch.no_grad():
                        teacher.synthesis(w, return_features=True)

                def forward_backward() -> None:
                    wg = w.detach().clone().requires_grad_(True)
                    img, feat = teacher.synthesis(wg, return_features=True)
                    (img.square().mean() + feat.mean()).backward()

                fwd = _time(forward, args.repeats, device) * 1e3
                both = _time(forward_backward, args.repeats, device) * 1e3
                print(
                    f"{table_name:9} {res:4d} {params:7.1f}M {mode:8} {fwd:11.1f} {both:11.1f} "
                    f"{both / fwd:8.2f}"
                )


if __name__ == "__main__":
    main()
