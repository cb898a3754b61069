from pacte_common.db import alembic_env
from sessions.db.models import Base

alembic_env(Base.metadata)
