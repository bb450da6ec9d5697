"""Imports every table module, so SQLModel.metadata is complete for Alembic and tests."""
from sqlmodel import SQLModel

from dunning import audit, auth  # noqa: F401
from dunning.ledger import models as ledger_models  # noqa: F401

metadata = SQLModel.metadata
