# databus image: one image, several roles (web, realtime-engine worker, schedule-engine worker, beat).
# Build stage: compilers and headers live here only.
FROM python:3.11-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.lock
COPY backend ./backend
COPY databus ./databus
COPY runs ./runs
COPY alerts ./alerts
COPY realtime_engine ./realtime_engine
COPY reports ./reports
COPY schedule_engine ./schedule_engine
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps .

# Runtime stage: the virtualenv and the code, no build tools, a non-root user.
FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 databus
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=backend.settings \
    DATABUS_REQUIRE_SECRET_KEY=true \
    STATIC_ROOT=/app/static
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Only what the processes run, one folder each (a COPY of several folders would merge their
# contents). Owned by root: the app user can read its code, not rewrite it.
COPY manage.py ./
COPY backend ./backend
COPY databus ./databus
COPY runs ./runs
COPY alerts ./alerts
COPY realtime_engine ./realtime_engine
COPY reports ./reports
COPY schedule_engine ./schedule_engine
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && chown -R databus:databus /app/static
USER databus
EXPOSE 8000 9808
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1
CMD ["uvicorn", "backend.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers", "--ws-per-message-deflate", "false", "--ws-max-size", "16384", "--timeout-graceful-shutdown", "20"]
