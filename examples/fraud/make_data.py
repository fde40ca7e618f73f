"""Generate ``transactions.csv``, the fraud example's sample input, with known bad rows.

The file is generated once and committed; this script keeps it reproducible (seeded) and
documents its ground truth. Run from anywhere::

    python examples/fraud/make_data.py

About 1.5 % of the rows carry exactly one fault each, so every bad row is quarantined under a
single column and check. ``FAULTS`` lists the kinds, how many rows of each are injected, and the
column and (pandera) check each should be quarantined under; the script prints the counts and
the file line numbers (header = line 1) of the bad rows.

Values are written as raw text: the SDK, not the file, decides what is valid. Tokens that pandas
reads as missing (``NA``, ``n/a``, ``null``, ...) are avoided on purpose, except the empty field,
which is the one way a missing value is written.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEED = 20240617
N_ROWS = 2000
N_CUSTOMERS = 400
OUT = Path(__file__).with_name("transactions.csv")
HEADER = ("customer_id", "amount", "country")

# ISO 3166-1 alpha-2 codes, roughly weighted. No "NA" (Namibia): pandas reads it as missing.
COUNTRIES = {
    "US": 30,
    "GB": 12,
    "DE": 10,
    "FR": 9,
    "ES": 6,
    "IT": 6,
    "NL": 5,
    "CA": 5,
    "BR": 4,
    "IN": 4,
    "JP": 3,
    "AU": 3,
    "SE": 2,
    "PL": 2,
    "MX": 2,
    "IE": 1,
    "PT": 1,
    "CH": 1,
}


@dataclass(frozen=True)
class Fault:
    """One kind of bad value: its column, the check the SDK should report, the raw values used."""

    kind: str
    count: int
    column: str
    check: str
    values: tuple[str, ...]


FAULTS: tuple[Fault, ...] = (
    Fault("missing_amount", 5, "amount", "not_nullable", ("",)),
    Fault(
        "malformed_amount",
        5,
        "amount",
        "coerce_dtype('float64')",
        ("12,5x", "abc", "1.234,56", "$45.00", "12..5"),
    ),
    Fault(
        "negative_amount",
        4,
        "amount",
        "greater_than_or_equal_to(0)",
        ("-25.00", "-120.50", "-3.99", "-0.01"),
    ),
    Fault(
        "amount_above_max",
        3,
        "amount",
        "less_than_or_equal_to(1000000)",
        ("1250000.00", "2500000.00", "1000000.01"),
    ),
    Fault(
        "bad_country",
        6,
        "country",
        "str_matches('^[A-Z]{2}$')",
        ("usa", "fr", "de", "USA", "gb", "GBR"),
    ),
    Fault(
        "malformed_customer_id",
        4,
        "customer_id",
        "coerce_dtype('int64')",
        ("C17", "C1042", "CUST-0088", "#1034"),
    ),
    Fault("missing_country", 3, "country", "not_nullable", ("",)),
)


@dataclass(frozen=True)
class Injected:
    """A bad row in the generated file: its 0-based data row, file line and fault."""

    row: int
    line: int
    fault: Fault
    value: str


def generate(seed: int = SEED, n_rows: int = N_ROWS) -> tuple[list[list[str]], list[Injected]]:
    """Build the rows (as text) and the ground truth of the faults injected into them.

    Args:
        seed: Seed of the random generator; the same seed gives the same rows.
        n_rows: Number of data rows (header excluded).

    Returns:
        The data rows, each ``[customer_id, amount, country]`` as strings (``""`` = missing), and
        one ``Injected`` per bad row, ordered by row.
    """
    rng = np.random.default_rng(seed)

    # A few customers are frequent, most are occasional (Zipf-like weights).
    customer_ids = rng.choice(np.arange(1000, 10000), size=N_CUSTOMERS, replace=False)
    weights = 1.0 / np.arange(1, N_CUSTOMERS + 1) ** 0.8
    customers = rng.choice(customer_ids, size=n_rows, p=weights / weights.sum())
    home = {int(c): str(rng.choice(list(COUNTRIES), p=_probabilities())) for c in customer_ids}

    # Card amounts: log-normal around ~40, a long tail of large purchases, all within range.
    amounts = np.clip(rng.lognormal(mean=3.7, sigma=1.2, size=n_rows), 0.5, 250_000.0)
    abroad = rng.random(n_rows) < 0.08
    foreign = rng.choice(list(COUNTRIES), size=n_rows, p=_probabilities())

    rows = [
        [str(int(c)), f"{a:.2f}", str(f) if away else home[int(c)]]
        for c, a, away, f in zip(customers, amounts, abroad, foreign, strict=True)
    ]

    n_bad = sum(f.count for f in FAULTS)
    bad_rows = rng.choice(n_rows, size=n_bad, replace=False)
    injected: list[Injected] = []
    position = 0
    for fault in FAULTS:
        col = HEADER.index(fault.column)
        for i in range(fault.count):
            row = int(bad_rows[position])
            position += 1
            value = fault.values[i % len(fault.values)]
            rows[row][col] = value
            injected.append(Injected(row=row, line=row + 2, fault=fault, value=value))
    injected.sort(key=lambda inj: inj.row)
    return rows, injected


def _probabilities() -> np.ndarray:
    weights = np.array(list(COUNTRIES.values()), dtype=float)
    return weights / weights.sum()


def write(rows: list[list[str]], path: Path = OUT) -> None:
    """Write the rows as CSV with a header; fields containing commas are quoted."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)


def main() -> None:
    """Generate the file and print the injected bad-row counts by kind."""
    rows, injected = generate()
    write(rows)
    counts = Counter(inj.fault.kind for inj in injected)
    print(f"wrote {OUT} ({len(rows)} rows, {len(injected)} bad = {len(injected) / len(rows):.2%})")
    print(f"{'kind':<24}{'count':>6}  {'column':<12} {'check':<32} file lines")
    for fault in FAULTS:
        lines = ",".join(str(inj.line) for inj in injected if inj.fault is fault)
        kind, n = fault.kind, counts[fault.kind]
        print(f"{kind:<24}{n:>6}  {fault.column:<12} {fault.check:<32} {lines}")
    by_column = Counter(inj.fault.column for inj in injected)
    print("by column:", dict(sorted(by_column.items())), "total:", len(injected))


if __name__ == "__main__":
    main()
