#!/usr/bin/env python3
"""Time JuPedSim 1.4.2's collision-free speed model on a room the walk benchmark describes.

Input (JSON): "walkable_wkt" (the walkable polygon, metres), "exits" (polygons, one per door),
"agents" ([x, y, desired_speed, exit index]), "dt_s", "radius_m", "time_gap_s",
"range_neighbor_repulsion_m", "cap_s". Every agent walks to its exit and is removed there.
Only the loop of iterate() calls is timed: wall_s (perf_counter), cpu_s (process_time).
Prints one JSON line; exit status 1 with {"error": ...} if JuPedSim is missing or fails.
"""

import argparse
import json
import sys
import time


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True, metavar="FILE.json")
    args = p.parse_args()
    try:
        import jupedsim as jps
        import shapely
    except ImportError as e:
        print(json.dumps({"error": f"cannot import jupedsim/shapely ({e}): run `cargo xtask setup`"}))
        return 1
    with open(args.input) as f:
        spec = json.load(f)
    area = shapely.from_wkt(spec["walkable_wkt"])
    model = jps.CollisionFreeSpeedModel(range_neighbor_repulsion=spec["range_neighbor_repulsion_m"])
    sim = jps.Simulation(model=model, geometry=area, dt=spec["dt_s"])
    stages = []
    for exit_polygon in spec["exits"]:
        stage = sim.add_exit_stage(shapely.Polygon(exit_polygon))
        journey = sim.add_journey(jps.JourneyDescription([stage]))
        stages.append((journey, stage))
    for x, y, speed, exit_index in spec["agents"]:
        journey, stage = stages[int(exit_index)]
        sim.add_agent(
            jps.CollisionFreeSpeedModelAgentParameters(
                position=(x, y),
                desired_speed=speed,
                radius=spec["radius_m"],
                time_gap=spec["time_gap_s"],
                journey_id=journey,
                stage_id=stage,
            )
        )
    agent_steps = 0
    cap = int(spec["cap_s"] / spec["dt_s"])
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while sim.agent_count() > 0 and sim.iteration_count() < cap:
        agent_steps += sim.agent_count()
        sim.iterate()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(json.dumps({"engine": "jupedsim " + jps.__version__, "wall_s": wall, "cpu_s": cpu,
                      "steps": sim.iteration_count(), "agent_steps": agent_steps,
                      "left": sim.agent_count(), "evacuation_s": sim.elapsed_time()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
