"""The exchange's domain packages: catalog, ingest, licensing, trading, metering, sharing, web."""
