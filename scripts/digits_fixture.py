#!/usr/bin/env python3
"""Writes scikit-learn's 8x8 handwritten digits as data/digits.csv and a fixed-seed split.

Source: sklearn.datasets.load_digits (the test set of the UCI "Optical Recognition of
Handwritten Digits" data, Alpaydin & Kaynak 1998, bundled inside scikit-learn: no download).
1797 images, 64 pixels each with integer intensities 0..16, scaled here to [0, 1] by /16 (every
value k/16 is exact in binary, so the CSV round-trips bit for bit in f32 and f64).

  data/digits.csv         1797 rows x 64 columns, header p0..p63, no label column.
  data/digits_split.json  {"seed": 0, "test": [...]}: 360 test rows (20 %), the first 360 of
                          numpy.random.default_rng(0).permutation(1797), sorted; the rest train.

Regenerate with  bash scripts/prerequisites.sh fixtures && .venv-fixtures/bin/python scripts/digits_fixture.py
"""

import json
import pathlib

import numpy as np
from sklearn.datasets import load_digits

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEED = 0
N_TEST = 360


def main():
    x = load_digits().data  # (1797, 64), floats holding integers 0..16
    assert x.shape == (1797, 64) and x.min() == 0 and x.max() == 16
    scaled = x / 16.0
    lines = [",".join(f"p{i}" for i in range(64))]
    for row in scaled:
        lines.append(",".join(format(v, "g") for v in row))
    (ROOT / "data" / "digits.csv").write_text("\n".join(lines) + "\n")
    perm = np.random.default_rng(SEED).permutation(len(x))
    test = sorted(int(i) for i in perm[:N_TEST])
    split = {
        "source": "sklearn.datasets.load_digits, pixels / 16",
        "seed": SEED,
        "rule": "test = sorted(numpy.random.default_rng(seed).permutation(1797)[:360]); train = the rest",
        "test": test,
    }
    (ROOT / "data" / "digits_split.json").write_text(json.dumps(split) + "\n")


if __name__ == "__main__":
    main()
