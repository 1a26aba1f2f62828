"""optrack's service: the REST API over SQLite or PostgreSQL."""
