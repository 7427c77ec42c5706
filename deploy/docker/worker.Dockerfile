# A compression worker: the Celery app around the pipeline, with torch (PyPI's build runs on CPUs and NVIDIA GPUs).
# docker build -f deploy/docker/worker.Dockerfile -t ganc-worker .
FROM python:3.11.11-slim-bookworm
RUN useradd --create-home --uid 10001 ganc && mkdir -p /models /jobs /data && chown ganc:ganc /models /jobs
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ganc ganc
COPY compression compression
COPY workers workers
RUN pip install --no-cache-dir '.[worker]'
ENV GANC_MODEL_REPOSITORY=/models GANC_JOBS_ROOT=/jobs
USER ganc
EXPOSE 9101
CMD ["ganc", "worker"]
