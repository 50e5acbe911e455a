"""Celery tasks of metering (beat): reclaim the reservations of dead streams, roll meter events up."""
from __future__ import annotations

from celery import shared_task

from exchange.metering import quotas, usage


@shared_task(name="downloads.reap_reservations")
def reap_reservations() -> int:
    """Release reservations whose stream stopped reporting for SDX_DOWNLOAD_RESERVATION_SECONDS."""
    return quotas.reap_expired()


@shared_task(name="usage.roll_up")
def roll_up() -> int:
    """Rebuild the daily usage of the days that have new meter events."""
    return usage.roll_up()
