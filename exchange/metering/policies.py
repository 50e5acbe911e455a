"""Metering's rules for the decision point (placeholder until usage reports land)."""
