from pacte_common.db import alembic_env
from remuneration.db.models import Base

alembic_env(Base.metadata)
