"""Celery tasks of the catalogue: they take ids and call the services."""
from __future__ import annotations

from celery import shared_task

from exchange.catalog import property_indexes


@shared_task(name="catalog.build_property_index")
def build_property_index(index_id: int) -> str:
    """Build a property index a provider or admin asked for (minutes at a million items)."""
    return property_indexes.build(index_id)


@shared_task(name="catalog.drop_property_index")
def drop_property_index(sql_name: str) -> None:
    """Drop the SQL index of a property index whose record is gone (its own name, never reused)."""
    property_indexes.drop_sql_index(sql_name)
