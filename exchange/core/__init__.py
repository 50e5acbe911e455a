"""Cross-cutting pieces every domain package uses: configuration, database, unit of work,
problem details, observability and the Celery app."""
