# Production image: one image for web, worker and beat; the command picks the role.
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    VAR_DIR=/data MEDIA_ROOT=/data/uploads STATIC_ROOT=/app/staticfiles \
    SANDBOX_RUNTIME_DIR=/opt/sandbox-runtime

# bubblewrap and socat are the grading sandbox; libpq is for psycopg; pango, harfbuzz's
# subsetter and a font are WeasyPrint's (the scorecard PDF).
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap socat libpq5 util-linux \
       libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt requirements.lock ./
RUN pip install -r requirements.txt -c requirements.lock

COPY . .
# Candidate code runs on its own runtime (anthropic + pydantic only), never on this image's packages.
RUN scripts/build-sandbox-runtime /opt/sandbox-runtime \
    && SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && useradd --system --create-home --uid 10001 app \
    && mkdir -p /data/uploads && chown -R app /data

USER app
EXPOSE 8000
CMD ["gunicorn", "--config", "gunicorn.conf.py", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
