"""HTML pages for providers, buyers and admins."""
