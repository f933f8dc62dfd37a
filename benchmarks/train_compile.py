"""Does ``torch.compile`` make the shipped 60-step recipe faster end to end, compilation included?

    python benchmarks/train_compile.py [--pool cls]

Trains the recipe of ``python -m vit_lessons.train`` (its defaults: one thread, 60 steps of 128 images)
in fresh processes, in this order: eager, compiled with an empty compile cache (what a first run
costs), compiled again with that cache filled (what a later run costs), eager again.  Prints each
run's training seconds (``TrainResult.seconds``: the loop, compilation included) and held-out
accuracy, and the compiled runs' seconds over the mean of the two eager runs taken around them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from vit_lessons.data import make_shapes  # noqa: E402
from vit_lessons.train import TRAIN_DEFAULTS, evaluate, shapes_config, train  # noqa: E402


def run(pool: str, compile: bool) -> dict:
    cfg = shapes_config(pool)
    result = train(cfg, threads=TRAIN_DEFAULTS["threads"], progress=False, compile=compile)
    test = make_shapes(TRAIN_DEFAULTS["test_size"], TRAIN_DEFAULTS["test_seed"], image_size=cfg.image_size[0])
    return {"seconds": result.seconds, "accuracy": evaluate(result.params, cfg, test)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pool", choices=("cls", "mean"), default="cls")
    ap.add_argument("--child", choices=("eager", "compiled"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run(args.pool, args.child == "compiled")))
        return
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache)
        rows = []
        for label, mode in (("eager", "eager"), ("compiled, empty cache", "compiled"),
                            ("compiled, cache filled", "compiled"), ("eager again", "eager")):
            out = subprocess.run([sys.executable, __file__, "--pool", args.pool, "--child", mode], env=env,
                                 check=True, capture_output=True, text=True).stdout
            rows.append((label, json.loads(out.strip().splitlines()[-1])))
            print(f"  {label:24s}: {rows[-1][1]['seconds']:6.1f} s, held-out accuracy {rows[-1][1]['accuracy']:.4f}",
                  flush=True)
    eager = (rows[0][1]["seconds"] + rows[3][1]["seconds"]) / 2
    for label, r in rows[1:3]:
        print(f"  {label} / eager = {r['seconds'] / eager:.2f}x  (end to end, compilation included)")
    print(f"  load average {os.getloadavg()[0]:.2f}, {args.pool} model, {TRAIN_DEFAULTS['steps']} steps")


if __name__ == "__main__":
    main()
