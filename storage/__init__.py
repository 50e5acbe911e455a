"""Object storage over S3 (MinIO SDK) and the local S3 launcher of the embedded default."""
