"""`make chaos`: kill the real pipeline at random points, re-run, compare with a clean run.

    .venv/bin/python -m tests.orchestration.chaos --cycles 10 [--seed 1] [--keep DIR]
    .venv/bin/python -m tests.orchestration.chaos --every-step   # one kill in each step

Simulates the tests' small world once, runs it cleanly, then per cycle: a fresh copy of the
landing files, `orchestration.run landed` killed (SIGKILL, with its dbt child) a random time after
a random step starts, possibly a second time in the re-run, then a re-run to the end; every mart
and the published copy must equal the clean run's. Prints "N of N equal to a clean run".
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from pathlib import Path

from simulator import simulate
from tests.conftest import SMALL_WORLD
from tests.orchestration.crash import STEPS, finish, kill_at, marts, pipeline_env, start_pipeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=5, help="kill / re-run cycles")
    parser.add_argument("--seed", type=int, default=None, help="for a repeatable sequence")
    parser.add_argument("--keep", type=Path, default=None, help="keep the runs' folders here")
    parser.add_argument("--every-step", action="store_true",
                        help="one cycle per step of the run, killed once inside it")  # fmt: skip
    args = parser.parse_args(argv)
    if args.every_step:
        args.cycles = len(STEPS)
    rng = random.Random(args.seed)
    root = Path(args.keep or tempfile.mkdtemp(prefix="cx-chaos-"))
    world = root / "world"
    if not world.exists():
        simulate(SMALL_WORLD, world)
    clean = root / "clean"
    shutil.rmtree(clean, ignore_errors=True)
    shutil.copytree(world, clean / "landing")
    finish(start_pipeline(pipeline_env(clean, clean / "landing"), clean / "run.log"),
           clean / "run.log")  # fmt: skip
    expected = marts(clean / "warehouse.duckdb"), marts(clean / "analytics.duckdb")
    equal = 0
    for cycle in range(1, args.cycles + 1):
        work = root / f"cycle-{cycle}"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(world, work / "landing")
        env = pipeline_env(work, work / "landing")
        kills = []
        attempts = 1 if args.every_step else rng.choice((1, 1, 2))
        for attempt in range(attempts):
            step = STEPS[cycle - 1] if args.every_step else rng.choice(STEPS)
            delay = round(rng.uniform(0, 1 if args.every_step else 3), 2)
            log = work / f"run-{attempt}.log"
            if kill_at(start_pipeline(env, log), log, step, delay):
                kills.append(f"{step}+{delay}s")
        finish(start_pipeline(env, work / "final.log"), work / "final.log")
        same = (marts(work / "warehouse.duckdb"), marts(work / "analytics.duckdb")) == expected
        equal += same
        print(f"cycle {cycle}: killed at {', '.join(kills) or 'nothing (the run ended first)'}"
              f" -> {'equal' if same else 'DIFFERENT'}", flush=True)  # fmt: skip
    print(f"{equal} of {args.cycles} equal to a clean run")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if equal == args.cycles else 1


if __name__ == "__main__":
    sys.exit(main())
