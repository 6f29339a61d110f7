"""Writes the two small example datasets beside penguins, from a fixed seed.

* ``data/tips/``: taxi trips with an integer 0/1 label ``big_tipper`` (binary classification);
* ``data/deliveries/``: orders with a numeric target ``duration_min`` (regression).

Both have an id and a timestamp column, which their configs exclude from the model
(``data.exclude_features``), and two spans of 150 rows. Run it again to get the same bytes:
``python data/generate_examples.py``.
"""
from __future__ import annotations

import csv
import datetime
import math
import os
import random
from typing import Callable, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS_PER_SPAN = 150
SPANS = 2
START = datetime.datetime(2026, 1, 1)


def _timestamp(rng: random.Random, span: int) -> str:
    offset = datetime.timedelta(days=30 * (span - 1) + rng.randrange(30),
                                minutes=rng.randrange(24 * 60))
    return (START + offset).strftime("%Y-%m-%d %H:%M")


def tip_row(rng: random.Random, span: int, row_id: int) -> Dict[str, object]:
    distance = round(rng.uniform(0.5, 25.0), 2)
    fare = round(3.0 + 1.6 * distance + rng.uniform(0, 4), 2)
    payment = rng.choice(["card", "card", "card", "cash"])
    passengers = rng.randint(1, 4)
    # Card payers on longer trips tip big; a logistic link keeps some noise in the label.
    score = (1.8 if payment == "card" else -2.2) + 0.12 * (distance - 8) - 0.2 * (passengers - 2)
    big_tipper = int(rng.random() < 1 / (1 + math.exp(-2.5 * score)))
    return {"trip_id": 10_000 * span + row_id, "pickup_time": _timestamp(rng, span),
            "distance_km": distance, "fare": fare, "passengers": passengers,
            "payment": payment, "big_tipper": big_tipper}


def delivery_row(rng: random.Random, span: int, row_id: int) -> Dict[str, object]:
    distance = round(rng.uniform(0.3, 12.0), 2)
    items = rng.randint(1, 8)
    region = rng.choice(["north", "south", "east", "west"])
    slow = {"north": 4.0, "south": 0.0, "east": 2.0, "west": 6.0}[region]
    duration = 8.0 + 3.2 * distance + 1.1 * items + slow + rng.gauss(0, 2.0)
    return {"order_id": 50_000 * span + row_id, "created_at": _timestamp(rng, span),
            "distance_km": distance, "items": items, "region": region,
            "duration_min": round(max(duration, 1.0), 1)}


def write(name: str, make_row: Callable[[random.Random, int, int], Dict[str, object]],
          seed: int) -> List[str]:
    rng = random.Random(seed)
    paths = []
    for span in range(1, SPANS + 1):
        rows = [make_row(rng, span, i) for i in range(ROWS_PER_SPAN)]
        folder = os.path.join(HERE, name, f"span-{span}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{name}.csv")
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        paths.append(path)
    return paths


def main() -> None:
    for path in write("tips", tip_row, seed=15) + write("deliveries", delivery_row, seed=16):
        print(os.path.relpath(path))


if __name__ == "__main__":
    main()
