"""API schemas (pydantic), one module per resource; routes import them, domain code never does."""
