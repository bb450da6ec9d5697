"""Where the shared data sets are: beside the repository (`../shared/datasets/`, as a clone and CI
lay them out), or up the tree from a work tree nested deeper; DUNNING_DATASETS_DIR wins."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_dataset(name: str) -> Path | None:
    if os.environ.get("DUNNING_DATASETS_DIR"):
        candidates = [Path(os.environ["DUNNING_DATASETS_DIR"]) / name]
    else:
        candidates = [folder / "shared" / "datasets" / name for folder in ROOT.parents]
    return next((path for path in candidates if path.is_file()), None)


IBM = shared_dataset("ibm-accounts-receivable.csv")
IBM_MAP = (
    "external_id=invoiceNumber,customer_external_id=customerID,number=invoiceNumber,total=InvoiceAmount,"
    "issued_on=InvoiceDate,due_on=DueDate,paid_on=SettledDate"
)

# The one way a test says it needs the IBM sample: skipped, with where to put it, when it is absent.
needs_ibm = pytest.mark.skipif(
    IBM is None,
    reason="the IBM accounts-receivable sample is not beside the repository "
    "(shared/datasets/ibm-accounts-receivable.csv, or set DUNNING_DATASETS_DIR)",
)


@cache
def ibm_backtest(cutoff: str, late_days: int = 15) -> dict:
    """The IBM sample backtested at a cutoff, once per run: several tests read the same figures
    (they read them only)."""
    from dunning.scoring.backtest import backtest, load_ibm_csv

    return backtest(load_ibm_csv(IBM), cutoff, late_days=late_days)
