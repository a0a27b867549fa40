from alembic import context

from splitcart_shared.migrations import run_env
from splitcart_archiver.models import metadata

run_env(context, metadata)
