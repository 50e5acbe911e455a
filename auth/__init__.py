"""Identities (organisations, users, roles) and, later, the OAuth 2.0 server and the policy decision point."""
