"""``python -m service.cli``: the ``optrack`` command."""

from .main import app

app()
