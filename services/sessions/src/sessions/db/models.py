"""Sessions's tables. Its own MetaData: no other service reads them."""

from sqlalchemy.orm import DeclarativeBase

from pacte_common.db import new_metadata
from pacte_common.messaging import MessagingTables


class Base(DeclarativeBase):
    metadata = new_metadata()


messaging = MessagingTables(Base.metadata)
