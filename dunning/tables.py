"""Imports every table module, so SQLModel.metadata is complete for Alembic and tests."""

from sqlmodel import SQLModel

from dunning import api_keys, audit, contacts  # noqa: F401
from dunning.cases import models as case_models  # noqa: F401
from dunning.events import models as event_models  # noqa: F401
from dunning.ledger import models as ledger_models  # noqa: F401
from dunning.outbox import models as outbox_models  # noqa: F401
from dunning.payments import models as payment_models  # noqa: F401
from dunning.policies import models as policy_models  # noqa: F401
from dunning.records import arrangements, desk, replies  # noqa: F401
from dunning.scoring import models as scoring_models  # noqa: F401
from dunning.tasks import models as task_models  # noqa: F401
from dunning.webhooks import models as webhook_models  # noqa: F401

metadata = SQLModel.metadata
