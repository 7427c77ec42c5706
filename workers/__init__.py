"""Celery tasks that run compression jobs through the pipeline and publish their results."""
