# Nurture's one image: `nurture api`, `nurture worker` and `nurture migrate` all run from it.
# Build: docker build -t nurture:local .   (docker-compose.yml builds it for you)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# Only used when NURTURE_DATABASE_URL is empty (SQLite); it must be writable by the app user.
ENV NURTURE_DATA_DIR=/var/lib/nurture

# A fixed, unprivileged uid, so volume permissions are predictable across rebuilds.
RUN groupadd --system --gid 10001 nurture \
    && useradd --system --uid 10001 --gid nurture --home-dir /var/lib/nurture --create-home nurture

WORKDIR /app
# Everything `pip install .` needs, and nothing else (.dockerignore keeps tests, .venv, .git out).
COPY pyproject.toml README.md ./
COPY nurture ./nurture
COPY api ./api
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
# A regular (non-editable) install: the code runs from site-packages, owned by root, read-only to the app.
RUN pip install --no-cache-dir . \
    && rm -rf build *.egg-info

USER nurture
WORKDIR /var/lib/nurture
EXPOSE 8000

# Same image, three roles: override the command with `nurture worker` or `nurture migrate`.
CMD ["nurture", "api"]
