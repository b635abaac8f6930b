"""The order's currency (OrderPlaced v2), an expand step: a nullable column, which the code
from before v2 never names (its orders get NULL: not priced, as the model says of an order
without a currency), so it runs on while the new code rolls out. No contract step follows:
NULL keeps its meaning.

A database made by create_all after v2 shipped already has the column (it was added then
without a migration): it is left as it is.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("orders")}
    if "currency" not in present:
        op.add_column("orders", sa.Column("currency", sa.String(3), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("currency")
