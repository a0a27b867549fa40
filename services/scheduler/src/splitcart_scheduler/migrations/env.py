from alembic import context
from splitcart_scheduler.models import metadata
from splitcart_shared.migrations import run_env

run_env(context, metadata)
