"""Training speed against the target: >= 97% held-out accuracy in <= 60 s of training on the CPU.

    python benchmarks/train_speed.py            # the CLS model, the shipped recipe
    python benchmarks/train_speed.py --both     # the CLS and the mean-pooled model

Runs the recipe of the shipped checkpoints (``python -m vit_lessons.train`` with its defaults,
which is what the records in ``vit_lessons/pretrained/*.json`` say), then prints, per model, the
wall time of the optimisation loop, the time spent generating the training images, their sum,
and the accuracy on the freshly generated held-out split, each next to its target.

The figures depend on what else runs on the machine; run it on a quiet one.  On the 2-core
CPU of the project's CI, with the machine quiet: see the README's "Training" section.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from vit_lessons.train import main  # noqa: E402

TARGET_ACCURACY, TARGET_SECONDS = 0.97, 60.0


def run(pool: str) -> dict:
    t = time.perf_counter()
    record = main(["--pool", pool, "--no-progress"])
    record["wall_seconds"] = time.perf_counter() - t
    return record


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--both", action="store_true", help="also the mean-pooled model")
    args = p.parse_args()
    rows = [run(pool) for pool in (("cls", "mean") if args.both else ("cls",))]
    print()
    print(f"{'model':<8} {'train s':>8} {'data s':>7} {'sum s':>7} {'target s':>9} {'accuracy':>9} {'target':>7}  ok")
    ok = True
    for r in rows:
        total = r["train_seconds"] + r["data_seconds"]
        good = total <= TARGET_SECONDS and r["test_accuracy"] >= TARGET_ACCURACY
        ok &= good
        print(f"{r['config']['pool']:<8} {r['train_seconds']:>8.1f} {r['data_seconds']:>7.1f} {total:>7.1f} "
              f"{TARGET_SECONDS:>9.0f} {r['test_accuracy']:>9.4f} {TARGET_ACCURACY:>7.2f}  {'yes' if good else 'NO'}")
    print(json.dumps({"threads": rows[0]["threads"], "torch": rows[0]["torch"], "all_targets_met": ok}))
