"""create posts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 19:33:08.106542

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_posts_user_id", "posts", ["user_id"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_posts_user_id", table_name="posts")
    op.drop_table("posts")
