#!/usr/bin/env python3
"""Time JuPedSim 1.4.2's collision-free speed model on a geometry a benchmark describes.

Input (JSON): "walkable_wkt" (the walkable polygon, metres), "exits" (polygons, one per door or
gate side), "agents" ([x, y, desired_speed, exit index] — all there at the start — or
[x, y, desired_speed, exit index, appears at s]), "dt_s", "radius_m", "time_gap_s",
"range_neighbor_repulsion_m", "cap_s". Every agent walks to its exit and is removed there. An
agent that appears later and is drawn on a wall (a building's entrance, a street edge) is moved
the least distance inside, a body's radius off the walls.
Only the loop of add_agent/iterate() calls is timed: wall_s (perf_counter), cpu_s (process_time).
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
        from shapely.ops import nearest_points
    except ImportError as e:
        print(json.dumps({"error": f"cannot import jupedsim/shapely ({e}): run `cargo xtask setup`"}))
        return 1
    with open(args.input) as f:
        spec = json.load(f)
    area = shapely.from_wkt(spec["walkable_wkt"])
    room = area.buffer(-(spec["radius_m"] + 0.05))
    model = jps.CollisionFreeSpeedModel(range_neighbor_repulsion=spec["range_neighbor_repulsion_m"])
    sim = jps.Simulation(model=model, geometry=area, dt=spec["dt_s"])
    stages = []
    for exit_polygon in spec["exits"]:
        stage = sim.add_exit_stage(shapely.Polygon(exit_polygon))
        journey = sim.add_journey(jps.JourneyDescription([stage]))
        stages.append((journey, stage))
    pending = []
    for agent in spec["agents"]:
        x, y, speed, exit_index = agent[:4]
        at = agent[4] if len(agent) > 4 else 0.0
        if len(agent) > 4:
            point = shapely.Point(x, y)
            if not room.contains(point):
                point = nearest_points(room, point)[0]
            x, y = point.x, point.y
        pending.append((at, x, y, speed, int(exit_index)))
    pending.sort(key=lambda a: a[0])
    agent_steps = 0
    refused = 0
    cap = int(spec["cap_s"] / spec["dt_s"])
    due = 0

    def add_due():
        nonlocal due, refused
        now = sim.elapsed_time()
        while due < len(pending) and pending[due][0] <= now:
            _, x, y, speed, exit_index = pending[due]
            due += 1
            journey, stage = stages[exit_index]
            parameters = jps.CollisionFreeSpeedModelAgentParameters(
                position=(x, y),
                desired_speed=speed,
                radius=spec["radius_m"],
                time_gap=spec["time_gap_s"],
                journey_id=journey,
                stage_id=stage,
            )
            try:
                sim.add_agent(parameters)
            except RuntimeError:
                refused += 1

    add_due()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while (due < len(pending) or sim.agent_count() > 0) and sim.iteration_count() < cap:
        add_due()
        agent_steps += sim.agent_count()
        sim.iterate()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(json.dumps({"engine": "jupedsim " + jps.__version__, "wall_s": wall, "cpu_s": cpu,
                      "steps": sim.iteration_count(), "agent_steps": agent_steps, "refused": refused,
                      "left": sim.agent_count() + len(pending) - due,
                      "evacuation_s": sim.elapsed_time()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
