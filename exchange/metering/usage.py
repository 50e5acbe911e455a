"""Usage roll-ups and reports (placeholder until they land)."""


def roll_up() -> int:
    return 0
