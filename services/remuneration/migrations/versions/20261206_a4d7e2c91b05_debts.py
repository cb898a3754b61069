"""debts: what a trainee owes back once the training is over, its repayments; the session's planned end; voided attendance

Revision ID: a4d7e2c91b05
Revises: 7e4a1c2d9f63
Create Date: 2026-12-06 16:00:00
"""
import sqlalchemy as sa
from alembic import op
from pacte_common.db import UTCDateTime

revision = 'a4d7e2c91b05'
down_revision = '7e4a1c2d9f63'
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=14, scale=2)


def upgrade() -> None:
    with op.batch_alter_table('remuneration_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_end_date', sa.Date(), nullable=True))
    with op.batch_alter_table('attendance_statements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('voided_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('voided_reason', sa.String(length=200), nullable=True))
    with op.batch_alter_table('statements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('debt_amount', MONEY, nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('debt_origin_months', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('debt_explanation', sa.Text(), nullable=True))
    op.create_table(
        'debts',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('dossier_id', sa.Uuid(), nullable=False),
        sa.Column('person_id', sa.Uuid(), nullable=False),
        sa.Column('organisation_siret', sa.String(length=14), nullable=False),
        sa.Column('statement_id', sa.Uuid(), nullable=False),
        sa.Column('run_month', sa.String(length=7), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('amount', MONEY, nullable=False),
        sa.Column('repaid_amount', MONEY, nullable=False),
        sa.Column('written_off_amount', MONEY, nullable=False),
        sa.Column('origin_months', sa.JSON(), nullable=False),
        sa.Column('explanation', sa.Text(), nullable=False),
        sa.Column('opened_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('demanded_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('demand_reference', sa.String(length=64), nullable=True),
        sa.Column('write_off_reason', sa.Text(), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['dossier_id'], ['remuneration_files.dossier_id'],
                                name=op.f('fk_debts_dossier_id_remuneration_files')),
        sa.ForeignKeyConstraint(['statement_id'], ['statements.id'], name=op.f('fk_debts_statement_id_statements')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_debts')),
        sa.UniqueConstraint('statement_id', name=op.f('uq_debts_statement_id')),
    )
    with op.batch_alter_table('debts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_debts_dossier_id'), ['dossier_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_debts_run_month'), ['run_month'], unique=False)
        batch_op.create_index(batch_op.f('ix_debts_state'), ['state'], unique=False)
    op.create_table(
        'debt_repayments',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('debt_id', sa.Uuid(), nullable=False),
        sa.Column('amount', MONEY, nullable=False),
        sa.Column('received_on', sa.Date(), nullable=False),
        sa.Column('reference', sa.String(length=64), nullable=False),
        sa.Column('recorded_by', sa.String(length=255), nullable=False),
        sa.Column('recorded_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['debt_id'], ['debts.id'], name=op.f('fk_debt_repayments_debt_id_debts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_debt_repayments')),
        sa.UniqueConstraint('debt_id', 'reference', name=op.f('uq_debt_repayments_debt_id_reference')),
    )
    with op.batch_alter_table('debt_repayments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_debt_repayments_debt_id'), ['debt_id'], unique=False)


def downgrade() -> None:
    op.drop_table('debt_repayments')
    op.drop_table('debts')
    with op.batch_alter_table('statements', schema=None) as batch_op:
        batch_op.drop_column('debt_explanation')
        batch_op.drop_column('debt_origin_months')
        batch_op.drop_column('debt_amount')
    with op.batch_alter_table('attendance_statements', schema=None) as batch_op:
        batch_op.drop_column('voided_reason')
        batch_op.drop_column('voided_at')
    with op.batch_alter_table('remuneration_files', schema=None) as batch_op:
        batch_op.drop_column('session_end_date')
