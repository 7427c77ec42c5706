"""Celery tasks that run compression jobs and publish their results (issue 6)."""
