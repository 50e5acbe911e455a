"""Celery tasks of the catalogue: they take ids and call the services."""
from __future__ import annotations

from celery import shared_task

from exchange.catalog import property_indexes


@shared_task(name="catalog.build_property_index")
def build_property_index(index_id: int) -> str:
    """Build a property index a provider or admin asked for (minutes at a million items)."""
    return property_indexes.build(index_id)
