#!/usr/bin/env python3
"""Extract the real-world stream that the density monitor's tests run on, from a dataset that
statsmodels bundles, into data/ (committed: the Rust tests need no Python).

data/co2_mauna_loa_weekly.csv: statsmodels.datasets.co2 (statsmodels 0.15.0), weekly atmospheric
CO2 at Mauna Loa, 1958-03-29 to 2001-12-29, 2284 weeks, ppm, 59 weeks missing (left empty).
Source (as statsmodels states it): Keeling, C.D. and T.P. Whorf. 2004. Atmospheric CO2
concentrations derived from flask air samples at sites in the SIO network. In Trends: A Compendium
of Data on Global Change. Carbon Dioxide Information Analysis Center, Oak Ridge National
Laboratory, U.S. Department of Energy. Licence: public domain (statsmodels' COPYRIGHT field).

Run:  bash scripts/prerequisites.sh datasets     (pinned statsmodels: .venv-datasets)
      .venv-datasets/bin/python scripts/stream_datasets.py
"""
import math
import pathlib

import statsmodels
import statsmodels.datasets.co2 as co2

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "co2_mauna_loa_weekly.csv"


def main():
    assert statsmodels.__version__ == "0.15.0", statsmodels.__version__
    assert co2.COPYRIGHT.strip() == "This is public domain.", co2.COPYRIGHT
    frame = co2.load_pandas().data
    lines = ["week,co2_ppm"]
    for week, value in zip(frame.index, frame["co2"]):
        lines.append(f"{week.date().isoformat()},{'' if math.isnan(value) else repr(float(value))}")
    OUT.write_text("\n".join(lines) + "\n")
    print(f"{OUT.relative_to(ROOT)}: {len(lines) - 1} weeks")


if __name__ == "__main__":
    main()
