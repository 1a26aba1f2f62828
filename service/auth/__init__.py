"""Authentication and authorisation: tokens, principals, accounts (users, memberships,
tokens), rate limits. Nothing here depends on the web framework; ``deps.py`` reads requests."""
