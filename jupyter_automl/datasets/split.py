"""Splitting a snapshot's rows into train and test parts, reproducibly and stratified."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InvalidInput


def split_rows(
    table: pd.DataFrame, test_percent: int, *, seed: int = 42, stratify_by: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, test). The same table, percent and seed always give the same split.

    With ``stratify_by`` (a head column), each class keeps its share in both parts and every
    class with at least two rows has at least one test row; rows unlabelled for that head form
    a stratum of their own. Rows keep their file order inside each part.
    """
    if not 1 <= test_percent <= 90:
        raise InvalidInput(f"test split must be between 1 and 90 percent, got {test_percent}")
    if stratify_by is not None and stratify_by not in table.columns:
        raise InvalidInput(f"cannot stratify by {stratify_by!r}: not a column of this snapshot")
    rng = np.random.default_rng(seed)
    strata = (
        table.groupby(table[stratify_by].fillna(""), sort=True).indices
        if stratify_by
        else {"": np.arange(len(table))}
    )
    test_positions: list[int] = []
    for _, positions in sorted(strata.items(), key=lambda kv: str(kv[0])):
        positions = np.asarray(positions)
        n_test = int(round(len(positions) * test_percent / 100))
        if len(positions) >= 2:
            n_test = min(max(n_test, 1), len(positions) - 1)
        chosen = rng.permutation(positions)[:n_test]
        test_positions.extend(int(p) for p in chosen)
    mask = np.zeros(len(table), dtype=bool)
    mask[test_positions] = True
    if mask.all() or not mask.any():
        raise InvalidInput(
            f"a {test_percent}% split of {len(table)} rows leaves one part empty; "
            "use a separate test snapshot or another percentage"
        )
    return table[~mask].reset_index(drop=True), table[mask].reset_index(drop=True)
