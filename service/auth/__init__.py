"""Authentication and authorisation: tokens, principals, the admin operations, rate limits."""

from .principal import CurrentUser, Principal, authenticate, scope

__all__ = ["CurrentUser", "Principal", "authenticate", "scope"]
