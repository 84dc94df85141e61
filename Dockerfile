# One image for every carepath process: api, worker, beat and the one-shot migration.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY pathways ./pathways
COPY workers ./workers
COPY api ./api
COPY definitions ./definitions
RUN pip install --no-cache-dir . && useradd --create-home carepath
USER carepath

EXPOSE 8000
CMD ["carepath", "api", "--host", "0.0.0.0", "--port", "8000"]
