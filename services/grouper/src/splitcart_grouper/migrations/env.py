from alembic import context

from splitcart_shared.migrations import run_env
from splitcart_grouper.models import metadata

run_env(context, metadata)
