"""A seeded generator of penguin rows shaped like the bundled data, written as a span folder.

Per species, numeric columns are drawn from normals with the bundled data's mean and
standard deviation, and island and sex from its frequencies; a small share of rows loses
every measurement and sex, and a few more lose only sex, as in the bundled files. Missing
values are the literal ``NA`` the bundled data uses, or empty fields with ``--empty-missing``
(stock CsvExampleGen reads ``NA`` as text, so the stock pipeline gets empty fields instead).
"""
from __future__ import annotations

import argparse
import glob
import os
from typing import Dict

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUNDLED = os.path.join(ROOT, "data", "penguins")
NUMERIC = {"bill_length_mm": 1, "bill_depth_mm": 1, "flipper_length_mm": 0, "body_mass_g": 0}
DOMAIN = {"bill_length_mm": (20.0, 80.0), "bill_depth_mm": (8.0, 30.0),
          "flipper_length_mm": (150, 260), "body_mass_g": (2000, 7500)}
ALL_MISSING_RATE = 0.006   # rows with no measurement at all (2 of 344 in the bundled data)
SEX_MISSING_RATE = 0.026   # further rows without sex (the rest of the bundled data's 11)


def bundled() -> pd.DataFrame:
    files = sorted(glob.glob(os.path.join(BUNDLED, "span-*", "*.csv")))
    return pd.concat([pd.read_csv(f, na_values=["NA"], keep_default_na=False) for f in files])


def _frequencies(values: pd.Series) -> Dict[str, float]:
    counts = values.dropna().value_counts(normalize=True)
    return dict(zip(counts.index, counts.values))


def generate(rows: int, seed: int = 0, year: int = 2007) -> pd.DataFrame:
    """``rows`` rows in the bundled column order; missing values are NaN / None."""
    source = bundled()
    rng = np.random.default_rng(seed)
    species_freq = _frequencies(source["species"])
    species = rng.choice(list(species_freq), size=rows, p=list(species_freq.values()))
    frame = pd.DataFrame({"species": species})
    columns = {name: np.empty(rows, dtype=object) for name in ("island", "sex")}
    numbers = {name: np.empty(rows) for name in NUMERIC}
    for kind in species_freq:
        mask = species == kind
        n = int(mask.sum())
        group = source[source["species"] == kind]
        for name in columns:
            freq = _frequencies(group[name])
            columns[name][mask] = rng.choice(list(freq), size=n, p=list(freq.values()))
        for name, digits in NUMERIC.items():
            low, high = DOMAIN[name]
            drawn = rng.normal(group[name].mean(), group[name].std(), size=n)
            numbers[name][mask] = np.clip(np.round(drawn, digits), low, high)
    all_missing = rng.random(rows) < ALL_MISSING_RATE
    sex_missing = all_missing | (rng.random(rows) < SEX_MISSING_RATE)
    frame["island"] = columns["island"]
    for name, digits in NUMERIC.items():
        values = pd.Series(numbers[name])
        values[all_missing] = np.nan
        frame[name] = values if digits else values.astype("Int64")
    frame["sex"] = pd.Series(columns["sex"]).where(~sex_missing, None)
    frame["year"] = year
    return frame[list(source.columns)]


def write_span(frame: pd.DataFrame, root: str, span: int = 1, empty_missing: bool = False) -> str:
    """Writes ``<root>/span-<span>/penguins.csv`` and returns its path."""
    folder = os.path.join(root, f"span-{span}")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "penguins.csv")
    frame.to_csv(path, index=False, na_rep="" if empty_missing else "NA")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int)
    parser.add_argument("root", help="data root; the file goes to <root>/span-<span>/penguins.csv")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--span", type=int, default=1)
    parser.add_argument("--empty-missing", action="store_true",
                        help="write missing values as empty fields instead of NA")
    args = parser.parse_args()
    print(write_span(generate(args.rows, args.seed), args.root, args.span, args.empty_missing))


if __name__ == "__main__":
    main()
