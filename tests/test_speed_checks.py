"""Text checks evaluated once per distinct value give the same rows as row by row."""

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import DataFrame

from sdk import Pipeline, Step

ROWS = 60_000  # long enough for checks to be evaluated once per distinct value
VOCABULARY = np.array(["US", "usa", "", "FR", " DE", "ÄB", "AB\n", "a.b", "Z9", "GB"], dtype=object)


class Codes(pa.DataFrameModel):
    """Text columns with built-in checks that judge each value alone."""

    code: str = pa.Field(str_matches=r"^[A-Z]{2}$", nullable=True)
    word: str = pa.Field(str_length={"min_value": 1, "max_value": 2}, str_startswith="U")


class Keep(Step):
    """Pass the rows on."""

    output = "kept"
    scope = "rows"

    def run(self, codes: DataFrame[Codes]) -> DataFrame[Codes]:
        return codes


def _frame(dtype: str) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    code = VOCABULARY[rng.integers(0, len(VOCABULARY), ROWS)].copy()
    code[rng.random(ROWS) < 0.05] = None
    word = VOCABULARY[rng.integers(0, len(VOCABULARY), ROWS)].copy()
    return pd.DataFrame(
        {"code": pd.Series(code, dtype=dtype), "word": pd.Series(word, dtype=dtype)}
    )


@pytest.mark.parametrize("dtype", ["str", "string[python]", "string[pyarrow]"])
def test_text_checks_on_repetitive_columns_quarantine_exactly_the_failing_rows(dtype: str):
    """On a long column of few distinct values, every row failing a regex, a length or a
    prefix check is quarantined under that check, and only those rows."""
    frame = _frame(dtype)
    result = Pipeline([Keep()], name="codes").run(codes=frame, max_invalid=1.0)
    q = result.quarantine
    code, word = frame["code"], frame["word"]
    expected = {
        ("code", "str_matches('^[A-Z]{2}$')"): code.notna()
        & ~code.str.match(r"^[A-Z]{2}$", na=False),
        ("word", "str_length(1, 2)"): ~word.str.len().between(1, 2),
        ("word", "str_startswith('U')"): ~word.str.startswith("U"),
    }
    for (column, check), mask in expected.items():
        got = q[(q["column"] == column) & (q["check"] == check)]
        assert sorted(got["source"].astype(int)) == np.flatnonzero(mask.to_numpy()).tolist()
    failing = np.logical_or.reduce([m.to_numpy() for m in expected.values()])
    assert len(result.outputs["kept"]) == ROWS - int(failing.sum())
    assert result.outputs["kept"].index.tolist() == np.flatnonzero(~failing).tolist()
