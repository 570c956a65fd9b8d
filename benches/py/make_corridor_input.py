#!/usr/bin/env python3
"""Write an input file for jupedsim_corridor.py.

Spawn times: a Poisson process over --duration seconds conditioned on exactly
N arrivals (N sorted uniform draws on [0, duration]). Desired speeds:
Normal(mean, sd) clipped to [min, max].
Seeded, so the same arguments give the same file.
"""

import argparse
import json
import random


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=5000)
    p.add_argument("--duration", type=float, default=10800.0, help="s")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dt", type=float, default=0.1)
    p.add_argument("--speed-mean", type=float, default=1.34)
    p.add_argument("--speed-sd", type=float, default=0.26)
    p.add_argument("--speed-min", type=float, default=0.5)
    p.add_argument("--speed-max", type=float, default=2.0)
    p.add_argument("--corridor-length", type=float, default=150.0)
    p.add_argument("--corridor-width", type=float, default=4.0)
    p.add_argument("--bottleneck-width", type=float, default=1.0)
    p.add_argument("--bottleneck-length", type=float, default=1.0)
    p.add_argument("--output", required=True)
    a = p.parse_args()

    rng = random.Random(a.seed)
    times = sorted(
        round(rng.uniform(0.0, a.duration), 3) for _ in range(a.agents)
    )
    speeds = [
        round(min(max(rng.gauss(a.speed_mean, a.speed_sd), a.speed_min),
                  a.speed_max), 4)
        for _ in times
    ]
    cfg = {
        "dt_s": a.dt,
        "spawn_times_s": times,
        "desired_speeds": speeds,
        "corridor_length_m": a.corridor_length,
        "corridor_width_m": a.corridor_width,
        "bottleneck_width_m": a.bottleneck_width,
        "bottleneck_length_m": a.bottleneck_length,
    }
    with open(a.output, "w") as f:
        json.dump(cfg, f)
    last = times[-1] if times else 0.0
    print(f"{a.output}: {len(times)} agents, last spawn at {last:.1f} s")


if __name__ == "__main__":
    main()
