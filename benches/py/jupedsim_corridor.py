#!/usr/bin/env python3
"""Benchmark JuPedSim 1.4.2 on a single-bottleneck corridor.

Geometry (x along the corridor, y across it, metres):

    corridor      [0, L] x [0, W]
    bottleneck    [L, L + bl] x [W/2 - bw/2, W/2 + bw/2]
    exit room     [L + bl, L + bl + ROOM_LEN] x [0, W]
    exit stage    last EXIT_DEPTH metres of the exit room

Agents enter at x = SPAWN_X at their spawn time, on one of a few fixed
lateral lanes (agent i prefers lane i % lanes, then tries the others in
order). A lane is free when no agent centre is within 2 * radius + INSERT_GAP
and JuPedSim accepts the agent. If every lane is blocked the agent and everyone
behind it wait for the next step, FIFO. Agents walk to the exit stage and
JuPedSim removes them there. The script holds no randomness: spawn times and
desired speeds come from the input file.

Only the simulation loop (spawning + iterate) is timed: wall_s with
time.perf_counter, cpu_s (this process's CPU time) with time.process_time.
"""

import argparse
import bisect
import json
import sys
import time

ENGINE = "jupedsim 1.4.2"
INSTALL_HINT = "python3 -m pip install jupedsim==1.4.2"

ROOM_LEN = 3.0  # length of the exit room behind the bottleneck [m]
EXIT_DEPTH = 1.0  # depth of the exit stage at the far end of the room [m]
SPAWN_X = 0.5  # x of the insertion line [m]
LANE_SPACING = 0.75  # lateral distance between insertion lanes [m]
WALL_CLEARANCE = 0.5  # min distance of a lane from the side walls [m]
INSERT_GAP = 0.1  # free gap required between a new agent and others [m]
SAFETY_CAP_S = 3600.0  # simulate at most this long after the last spawn [s]

REQUIRED_KEYS = (
    "dt_s",
    "spawn_times_s",
    "desired_speeds",
    "corridor_length_m",
    "corridor_width_m",
    "bottleneck_width_m",
    "bottleneck_length_m",
)


def parse_args():
    p = argparse.ArgumentParser(
        description="Time JuPedSim on a corridor ending in a bottleneck and "
        "print one JSON line with the run time and agent-steps."
    )
    p.add_argument(
        "--input",
        required=True,
        metavar="FILE.json",
        help='JSON with keys: "dt_s", "spawn_times_s" (sorted), '
        '"desired_speeds" (m/s, same length), "corridor_length_m", '
        '"corridor_width_m", "bottleneck_width_m", "bottleneck_length_m"',
    )
    p.add_argument(
        "--model",
        choices=("social_force", "collision_free"),
        default="social_force",
        help="JuPedSim operational model (default: social_force)",
    )
    p.add_argument(
        "--dt",
        type=float,
        metavar="SECONDS",
        help="override dt_s from the input file",
    )
    p.add_argument(
        "--output", metavar="FILE.json", help="also write the result here"
    )
    return p.parse_args()


def load_input(path):
    with open(path) as f:
        cfg = json.load(f)
    missing = [k for k in REQUIRED_KEYS if k not in cfg]
    if missing:
        sys.exit(f"error: {path}: missing keys {missing}")
    times, speeds = cfg["spawn_times_s"], cfg["desired_speeds"]
    if len(times) != len(speeds):
        sys.exit("error: spawn_times_s and desired_speeds differ in length")
    if any(b < a for a, b in zip(times, times[1:])):
        sys.exit("error: spawn_times_s must be sorted")
    if cfg["bottleneck_width_m"] > cfg["corridor_width_m"]:
        sys.exit("error: bottleneck wider than corridor")
    return cfg


def build_geometry(shapely, cfg):
    """Walkable area polygon, exit-stage polygon and the insertion lanes."""
    L, W = cfg["corridor_length_m"], cfg["corridor_width_m"]
    bw, bl = cfg["bottleneck_width_m"], cfg["bottleneck_length_m"]
    y0, y1 = (W - bw) / 2.0, (W + bw) / 2.0
    x_end = L + bl + ROOM_LEN
    walkable = shapely.Polygon(
        [
            (0.0, 0.0),
            (L, 0.0),
            (L, y0),
            (L + bl, y0),
            (L + bl, 0.0),
            (x_end, 0.0),
            (x_end, W),
            (L + bl, W),
            (L + bl, y1),
            (L, y1),
            (L, W),
            (0.0, W),
        ]
    )
    exit_area = shapely.box(x_end - EXIT_DEPTH, 0.0, x_end, W)

    # Evenly spaced lanes, centred, keeping WALL_CLEARANCE from the walls.
    usable = max(W - 2.0 * WALL_CLEARANCE, 0.0)
    n = int(usable // LANE_SPACING) + 1
    first = (W - (n - 1) * LANE_SPACING) / 2.0
    lanes = [(SPAWN_X, first + k * LANE_SPACING) for k in range(n)]
    return walkable, exit_area, lanes


def make_model(jps, name):
    """Model instance and a factory for that model's agent parameters."""
    if name == "social_force":
        model = jps.SocialForceModel()

        def params(pos, speed, journey, stage):
            return jps.SocialForceModelAgentParameters(
                position=pos,
                orientation=(1.0, 0.0),
                journey_id=journey,
                stage_id=stage,
                desired_speed=speed,
            )

    else:
        model = jps.CollisionFreeSpeedModel()

        def params(pos, speed, journey, stage):
            return jps.CollisionFreeSpeedModelAgentParameters(
                position=pos,
                journey_id=journey,
                stage_id=stage,
                desired_speed=speed,
            )

    # Radius = JuPedSim's default agent radius for that model (left unchanged).
    radius = params((0.0, 0.0), 1.0, 0, 0).radius
    return model, params, radius


def main():
    args = parse_args()
    try:
        import jupedsim as jps
        import shapely
    except ImportError as e:
        sys.exit(f"error: {e}. Install JuPedSim with: {INSTALL_HINT}")
    if getattr(jps, "__version__", "?") != "1.4.2":
        print(
            f"warning: jupedsim {jps.__version__} installed, expected 1.4.2",
            file=sys.stderr,
        )

    cfg = load_input(args.input)
    dt = float(args.dt if args.dt is not None else cfg["dt_s"])
    if dt <= 0:
        sys.exit("error: dt must be positive")
    spawn_times = [float(t) for t in cfg["spawn_times_s"]]
    speeds = [float(v) for v in cfg["desired_speeds"]]
    n_agents = len(spawn_times)

    walkable, exit_area, lanes = build_geometry(shapely, cfg)
    model, agent_params, radius = make_model(jps, args.model)
    clearance = 2.0 * radius + INSERT_GAP
    sim = jps.Simulation(
        model=model, geometry=walkable, dt=dt, trajectory_writer=None
    )
    exit_id = sim.add_exit_stage(exit_area)
    journey_id = sim.add_journey(jps.JourneyDescription([exit_id]))

    t_cap = (spawn_times[-1] if spawn_times else 0.0) + SAFETY_CAP_S
    next_agent = 0  # index of the first agent not yet inserted
    deferrals = 0  # agent-steps spent waiting for a free insertion spot
    iterations = 0
    agent_steps = 0
    error = None

    t0, c0 = time.perf_counter(), time.process_time()
    while True:
        # Simulated time of the step about to run (integer count avoids drift).
        now = iterations * dt
        # Insert every due agent, FIFO; stop at the first one with no free lane
        # (all later agents would hit the same occupied lanes).
        while next_agent < n_agents and spawn_times[next_agent] <= now + 1e-9:
            i = next_agent
            placed = False
            for k in range(len(lanes)):
                pos = lanes[(i + k) % len(lanes)]
                # JuPedSim's own check is weaker than "no body overlap" (for
                # the social force model it only demands distance > radius),
                # so require a clear circle before inserting. (agents_in_range
                # returns an id iterator, which is always truthy.)
                nearby = sim.agents_in_range(pos, clearance)
                if next(iter(nearby), None) is not None:
                    continue
                try:
                    sim.add_agent(
                        agent_params(pos, speeds[i], journey_id, exit_id)
                    )
                    placed = True
                    break
                except RuntimeError as e:
                    # JuPedSim: "Model constraint violation: Agent ... too
                    # close to agent ..." -> spot occupied, try another lane.
                    if "too close to agent" not in str(e):
                        raise
            if not placed:
                break
            next_agent += 1
        # Agents due but still waiting for a free spot.
        deferrals += bisect.bisect_right(spawn_times, now + 1e-9) - next_agent

        present = sim.agent_count()
        if next_agent == n_agents and present == 0:
            break
        if now >= t_cap:
            break
        try:
            sim.iterate()
        except RuntimeError as e:
            # e.g. social force at large dt: an agent is flung out of the
            # walkable area ("Point (...) is outside of accessible area").
            error = f"iteration {iterations} (t={now:.2f} s): {e}"
            break
        agent_steps += present
        iterations += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0

    exited = next_agent - sim.agent_count()
    result = {
        "engine": ENGINE,
        "model": args.model,
        "agents": n_agents,
        "exited": exited,
        "iterations": iterations,
        "dt_s": dt,
        "simulated_s": round(iterations * dt, 6),
        "wall_s": round(wall, 6),
        "cpu_s": round(cpu, 6),
        "agent_steps": agent_steps,
        "agent_steps_per_s": round(agent_steps / wall, 1) if wall else None,
    }
    if error:
        result["error"] = error
    line = json.dumps(result)
    print(line)
    if args.output:
        with open(args.output, "w") as f:
            f.write(line + "\n")
    # Diagnostics on stderr so stdout stays one JSON line.
    if error:
        sys.exit(f"error: JuPedSim failed at {error}")
    if next_agent < n_agents or exited < n_agents:
        print(
            f"note: stopped at safety cap; inserted {next_agent}/{n_agents}, "
            f"exited {exited}",
            file=sys.stderr,
        )
    if deferrals:
        print(
            f"note: {deferrals} agent-steps of deferred insertion "
            "(insertion spots occupied)",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
