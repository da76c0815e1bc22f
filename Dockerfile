# The local cloud's runtime (Lambda workers, event-source mappings, API gateway, Firehose delivery)
# for the Docker harness; the same image serves the Glue Data Catalog with our patched moto.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Java for local Spark (the embedded Glue runner); curl for health checks.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless curl \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY emulation ./emulation
COPY glue_local ./glue_local
COPY deploy/__init__.py ./deploy/__init__.py
RUN pip install --no-cache-dir '.[local]'

RUN useradd --create-home --uid 10001 cloud && mkdir /state && chown cloud /state
USER cloud
EXPOSE 4566 4567 4568
CMD ["python", "-m", "emulation.control.container", "--state-dir", "/state"]
