"""Write the spaceflights example's raw data (seeded, so the files are always the same).

A small stand-in for the public Kedro "spaceflights" starter data: companies that run
shuttles, the shuttles with their prices, and their reviews, in the raw text form the starter
reads (``"90%"`` ratings, ``"t"``/``"f"`` flags, ``"$1,325.0"`` prices) — with a few broken
rows, which the pipeline quarantines. ``python examples/spaceflights/make_data.py``.
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def main(companies: int = 120, shuttles: int = 1500, seed: int = 7) -> None:
    """Write ``companies.csv``, ``shuttles.csv``, ``reviews.csv`` and ``new_shuttles.csv``."""
    rng = np.random.default_rng(seed)
    rating = rng.uniform(0.5, 1.0, companies)
    company = pd.DataFrame(
        {
            "id": np.arange(1, companies + 1),
            "company_rating": [f"{r:.0%}" for r in rating],
            "iata_approved": rng.choice(["t", "f"], companies),
            "company_location": rng.choice(["Niue", "Anguilla", "Russian Federation"], companies),
        }
    )
    company.loc[[3, 40], "company_rating"] = ""  # missing: their shuttles are quarantined
    frames = {}
    for name, n, offset in (("shuttles", shuttles, 0), ("new_shuttles", 200, 100_000)):
        engines = rng.integers(1, 5, n)
        capacity = rng.integers(2, 9, n)
        crew = rng.integers(1, 6, n)
        d_check = rng.choice(["t", "f"], n)
        company_id = rng.integers(1, companies + 1, n)
        price = (
            300 * engines
            + 120 * capacity
            + 50 * crew
            + 400 * (d_check == "t")
            + 900 * rating[company_id - 1]
            + rng.normal(0, 250, n)
        )
        frames[name] = pd.DataFrame(
            {
                "id": np.arange(offset + 1, offset + n + 1),
                "company_id": company_id,
                "engines": engines,
                "passenger_capacity": capacity,
                "crew": crew,
                "d_check_complete": d_check,
                "moon_clearance_complete": rng.choice(["t", "f"], n),
                "price": [f"${p:,.1f}" for p in price],
            }
        )
    frames["shuttles"].loc[[10, 500], "price"] = "call us"  # malformed: quarantined
    frames["shuttles"]["engines"] = frames["shuttles"]["engines"].astype(object)
    frames["shuttles"].loc[[77], "engines"] = ""
    reviews = pd.DataFrame(
        {
            "shuttle_id": np.concatenate([frames["shuttles"]["id"], frames["new_shuttles"]["id"]]),
            "review_scores_rating": rng.integers(60, 101, shuttles + 200).astype(float),
        }
    )
    company.to_csv(HERE / "companies.csv", index=False)
    frames["shuttles"].to_csv(HERE / "shuttles.csv", index=False)
    frames["new_shuttles"].drop(columns="price").to_csv(HERE / "new_shuttles.csv", index=False)
    reviews.to_csv(HERE / "reviews.csv", index=False)


if __name__ == "__main__":
    main()
