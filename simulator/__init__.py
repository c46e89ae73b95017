"""A seeded simulator of a small CX world that writes the three landing feeds and its ground truth."""

from __future__ import annotations

import json
from pathlib import Path

from simulator.config import SimConfig
from simulator.delivery import deliver
from simulator.truth import ground_truth
from simulator.world import build_world

TRUTH_FILE = "_simulator/truth.json"


def simulate(config: SimConfig, out: Path) -> dict:
    """Build the world for `config`, write its feeds under `out`, return (and save) the truth."""
    out = Path(out)
    world = build_world(config)
    counts = deliver(world, out)
    truth = ground_truth(world, counts)
    path = out / TRUTH_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(truth, indent=1, default=str))
    return truth


def load_truth(out: Path) -> dict:
    return json.loads((Path(out) / TRUTH_FILE).read_text())


__all__ = ["SimConfig", "simulate", "load_truth", "TRUTH_FILE"]
