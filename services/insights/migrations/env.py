from insights.db.models import Base
from pacte_common.db import alembic_env

alembic_env(Base.metadata)
