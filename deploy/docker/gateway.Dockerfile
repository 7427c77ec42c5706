# The gateway: the FastAPI app inside BentoML, onnxruntime on the CPU, Triton through tritonclient. No torch.
# docker build -f deploy/docker/gateway.Dockerfile -t ganc-gateway .
FROM python:3.11.11-slim-bookworm
RUN useradd --create-home --uid 10001 ganc && mkdir -p /models /jobs /data && chown ganc:ganc /models /jobs
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ganc ganc
COPY service service
RUN pip install --no-cache-dir '.[serve]'
COPY bentofile.yaml ./
ENV GANC_MODEL_REPOSITORY=/models GANC_JOBS_ROOT=/jobs BENTOML_HOME=/home/ganc/bentoml BENTOML_DO_NOT_TRACK=true
USER ganc
EXPOSE 3000 9102
CMD ["bentoml", "serve", "service.bento:GatewayService", "--host", "0.0.0.0", "--port", "3000"]
