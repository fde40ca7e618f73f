"""CSV records without quotes (read by Arrow) come out as pandas reads them as text."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdk.io import _csv
from sdk.io.files import CsvScheme

ALPHABET = [*"abcXYZ019 .-_\tüé€😀", "NA", "null", ""]


def _text(seed: int, line_end: str, quoted: bool) -> str:
    rng = np.random.default_rng(seed)
    lines = ["id,note,code"]
    for i in range(400):
        if rng.random() < 0.03:
            lines.append(" \t "[: int(rng.integers(0, 4))])  # blank: not a row
            continue
        note = "".join(rng.choice(ALPHABET, int(rng.integers(0, 4))))
        code = "".join(rng.choice(ALPHABET, int(rng.integers(0, 3))))
        if quoted and rng.random() < 0.1:
            note = '"' + note.replace('"', '""') + ', quoted"'
        lines.append(f"{i},{note},{code}")
    return line_end.join(lines) + line_end


def _as_pandas(text: str) -> pd.DataFrame:
    """What pandas reads as text from the rows of ``text`` (blank lines skipped)."""
    rows = [line for line in text.splitlines() if line.strip(" \t")]
    return pd.read_csv(
        io.StringIO("\n".join(rows)),
        dtype=str,
        keep_default_na=False,
        na_values=[""],
        index_col=False,
    )


@pytest.mark.parametrize("block", [64, 1 << 22])
@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
@pytest.mark.parametrize("quoted", [False, True])
def test_rows_read_from_csv_equal_pandas_text_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, line_end: str, quoted: bool
):
    """Every row, its text values (spaces, tabs, 'NA' and 'null' kept, an empty field missing)
    and its dtype are what pandas reads as text, in blocks of any size, with or without quotes,
    and each row's source is its physical line."""
    monkeypatch.setattr(_csv, "_BLOCK", block)
    text = _text(seed=block + len(line_end) + quoted, line_end=line_end, quoted=quoted)
    path = tmp_path / "rows.csv"
    path.write_bytes(text.encode("utf-8"))
    loaded = CsvScheme().read(str(path))
    expected = _as_pandas(text)
    pd.testing.assert_frame_equal(loaded.frame.reset_index(drop=True), expected)
    physical = [n for n, line in enumerate(text.split(line_end), start=1) if line.strip(" \t")]
    rendered = loaded.sources.render(np.arange(len(loaded.frame)))
    assert rendered == [f"{path}:{n}" for n in physical[1:]]
