"""A stand-in for a training script: an accuracy that peaks at lr 0.1, written to
$BML_OUTPUT_DIR/metrics.json; a learning rate of 0 or less diverges (exit code 3)."""
import argparse
import json
import math
import os
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, required=True)
    lr = parser.parse_args().lr
    if lr <= 0:
        print("loss is nan: diverged", flush=True)
        return 3
    accuracy = round(0.95 - 0.1 * abs(math.log10(lr) + 1), 4)
    print(f"lr={lr} accuracy={accuracy}", flush=True)
    with open(os.path.join(os.environ["BML_OUTPUT_DIR"], "metrics.json"), "w") as f:
        json.dump({"lr": lr, "accuracy": accuracy}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
