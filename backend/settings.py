"""Django settings for databus, all read from the environment (see README "Configuration").

Local defaults point at the services on 127.0.0.1 so that `make demo` and
`make test` work on a developer machine; production sets every secret through
the environment (compose.prod.yml reads an env file).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from backend import content_security
from databus import env, keys
from runs.domain.lifecycle.thresholds import Thresholds
from runs.domain.progression.config import ProgressionConfig
from runs.domain.progression.prediction_refresh import RefreshConfig

BASE_DIR = Path(__file__).resolve().parent.parent

# The thresholds' defaults live in the domain's config dataclasses (one spelling each).
_DETECTION = Thresholds()
_MATCHING = ProgressionConfig()
_REFRESH = RefreshConfig()
# None in the config (STOPPED_AT at any speed) is a negative number in the environment.
_MATCHING_STOPPED_MAX_SPEED_MPS = (
    -1.0 if _MATCHING.stopped_max_speed_mps is None else _MATCHING.stopped_max_speed_mps
)

try:
    DEBUG = env.env_bool("DEBUG", False)
    SECRET_KEY = env.env_str("SECRET_KEY", "")
    if not SECRET_KEY:
        if not DEBUG and env.env_bool("DATABUS_REQUIRE_SECRET_KEY", False):
            raise env.ConfigError("SECRET_KEY is required when DATABUS_REQUIRE_SECRET_KEY=true")
        # A development-only key: production images set DATABUS_REQUIRE_SECRET_KEY=true.
        SECRET_KEY = "databus-insecure-development-key-do-not-use-in-production"
    ALLOWED_HOSTS = env.env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
    CSRF_TRUSTED_ORIGINS = env.env_list("CSRF_TRUSTED_ORIGINS", [])

    DATABASE_URL = env.env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/databus")
    DATABASE_ADDRESS = env.parse_database_url(DATABASE_URL)
    REDIS_URL = env.env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
    REDIS_ADDRESS = env.parse_redis_url(REDIS_URL)
    CHANNEL_REDIS_URL = env.env_str("CHANNEL_REDIS_URL", "redis://127.0.0.1:6379/2")
    env.parse_redis_url(CHANNEL_REDIS_URL, variable="CHANNEL_REDIS_URL")
    CELERY_BROKER_URL = env.env_str("CELERY_BROKER_URL", "redis://127.0.0.1:6379/1")
    env.parse_redis_url(CELERY_BROKER_URL, variable="CELERY_BROKER_URL")
    MQTT_URL = env.env_str("MQTT_URL", "mqtt://127.0.0.1:1883")
    MQTT_ADDRESS = env.parse_mqtt_url(MQTT_URL)
    MQTT_TOPIC_ROOT = env.env_str("MQTT_TOPIC_ROOT", "transit")
    MQTT_CONSUMER_ENABLED = env.env_bool("MQTT_CONSUMER_ENABLED", False)
    MQTT_SHARED_GROUP = env.env_str("MQTT_SHARED_GROUP", "")
    MQTT_CLIENT_ID = env.env_str("MQTT_CLIENT_ID", "")
    MQTT_SESSION_EXPIRY_S = env.env_int("MQTT_SESSION_EXPIRY_S", 3600, minimum=0)
    INGEST_BATCH_MAX = env.env_int("INGEST_BATCH_MAX", 500, minimum=1)
    INGEST_FLUSH_MS = env.env_int("INGEST_FLUSH_MS", 10, minimum=1)
    INGEST_FLUSH_MIN = env.env_int("INGEST_FLUSH_MIN", 1, minimum=1)
    # Sessions and shutdown of the MQTT ingest (docs/operations.md, "Ingest sessions and replicas").
    INGEST_REPLICA_SLOT = env.env_str("INGEST_REPLICA_SLOT", "")
    INGEST_RECEIVE_MAXIMUM = env.env_int("INGEST_RECEIVE_MAXIMUM", 65_535, minimum=20)
    INGEST_DRAIN_S = env.env_float("INGEST_DRAIN_S", 5.0)
    # Ingest trust: telemetry only from vehicles in the vehicles table,
    # unless allowed; the registry of their ids is reloaded this often (docs/operations.md,
    # "Dead letters").
    INGEST_ALLOW_UNKNOWN_VEHICLES = env.env_bool("INGEST_ALLOW_UNKNOWN_VEHICLES", False)
    INGEST_VEHICLE_REGISTRY_REFRESH_S = env.env_float("INGEST_VEHICLE_REGISTRY_REFRESH_S", 30.0)
    # The Redis Streams ingress (docs/operations.md, "Streams ingress"): a consumer group on
    # the hot-state Redis, beside (or instead of) MQTT in the worker.
    STREAMS_CONSUMER_ENABLED = env.env_bool("STREAMS_CONSUMER_ENABLED", False)
    STREAMS_KEYS = env.env_list("STREAMS_KEYS", [keys.TELEMETRY_AVL_STREAM])
    STREAMS_GROUP = env.env_str("STREAMS_GROUP", "databus").strip()
    # Empty: one name per process (host name and pid); a claim pass takes over a dead one's work.
    STREAMS_CONSUMER_NAME = env.env_str("STREAMS_CONSUMER_NAME", "").strip()
    # 2000: a drained backlog coalesces several fixes per vehicle into one hot-state write,
    # while one batch's compare-and-set script holds Redis for some 25 ms at most.
    STREAMS_BATCH_MAX = env.env_int("STREAMS_BATCH_MAX", 2000, minimum=1)
    # Under the Redis client's 5 s socket timeout, and short enough for a prompt stop.
    STREAMS_BLOCK_MS = env.env_int("STREAMS_BLOCK_MS", 1000, minimum=1)
    STREAMS_CLAIM_INTERVAL_S = env.env_float("STREAMS_CLAIM_INTERVAL_S", 30.0)
    STREAMS_CLAIM_IDLE_MS = env.env_int("STREAMS_CLAIM_IDLE_MS", 60_000, minimum=100)
    STREAMS_MAX_DELIVERIES = env.env_int("STREAMS_MAX_DELIVERIES", 5, minimum=1)
    # Entries read and not yet acknowledged (history not written: PostgreSQL down) before the
    # consumer stops reading; they wait in the stream's pending list meanwhile.
    STREAMS_UNACKED_MAX = env.env_int("STREAMS_UNACKED_MAX", 50_000, minimum=1)
    # /readyz warns (never fails) when a stream's group lags by more entries than this.
    STREAMS_READY_LAG_WARN = env.env_int("STREAMS_READY_LAG_WARN", 10_000, minimum=1)
    _streams_problems = [
        problem
        for problem, wrong in (
            ("STREAMS_KEYS names no stream", not STREAMS_KEYS),
            ("STREAMS_GROUP is empty", not STREAMS_GROUP),
            ("STREAMS_BATCH_MAX must be at most 10000", STREAMS_BATCH_MAX > 10_000),
            ("STREAMS_BLOCK_MS must be at most 4000", STREAMS_BLOCK_MS > 4000),
            (
                "STREAMS_CLAIM_INTERVAL_S must be between 0.1 and 3600",
                not 0.1 <= STREAMS_CLAIM_INTERVAL_S <= 3600,
            ),
            ("STREAMS_MAX_DELIVERIES must be at most 1000", STREAMS_MAX_DELIVERIES > 1000),
        )
        if wrong
    ]
    if _streams_problems:
        raise env.ConfigError("; ".join(_streams_problems))
    POSITION_RETENTION_DAYS = env.env_int("POSITION_RETENTION_DAYS", 30, minimum=1)
    # Day partitions of the position history kept created ahead of today (hourly task).
    POSITION_PARTITIONS_AHEAD_DAYS = env.env_int("POSITION_PARTITIONS_AHEAD_DAYS", 3, minimum=1)
    DLQ_MAXLEN = env.env_int("DLQ_MAXLEN", 100_000, minimum=100)
    WORKER_METRICS_PORT = env.env_int("WORKER_METRICS_PORT", 9808, minimum=0)
    FEED_BUILD_INTERVAL_S = env.env_int("FEED_BUILD_INTERVAL_S", 15, minimum=1)
    # Periodic tasks' intervals (databus.beat; docs/operations.md, "Periodic tasks"). Beat ticks
    # at least every BEAT_HEARTBEAT_INTERVAL_S, writing its heartbeat and renewing its lock
    # (databus.beat_scheduler); a beat that dies frees the lock after BEAT_LOCK_TTL_S, when
    # another beat takes over, and /readyz fails once the heartbeat is two intervals old.
    POSITION_PARTITIONS_INTERVAL_S = env.env_int("POSITION_PARTITIONS_INTERVAL_S", 3600, minimum=1)
    TRIP_OPERATIONS_SYNC_INTERVAL_S = env.env_int("TRIP_OPERATIONS_SYNC_INTERVAL_S", 60, minimum=1)
    BEAT_HEARTBEAT_INTERVAL_S = env.env_int("BEAT_HEARTBEAT_INTERVAL_S", 5, minimum=1)
    BEAT_LOCK_TTL_S = env.env_int("BEAT_LOCK_TTL_S", 30, minimum=2)
    if BEAT_LOCK_TTL_S <= BEAT_HEARTBEAT_INTERVAL_S:
        raise env.ConfigError("BEAT_LOCK_TTL_S must be longer than BEAT_HEARTBEAT_INTERVAL_S")
    # A vehicle not heard from for this long (parked, switched off) leaves VehiclePositions:
    # long enough to carry it through a short data gap with its last-known position
    # (Google's guidance), short enough that a parked bus does not linger on trip planners'
    # maps (GTFS-RT best practices ask for data no older than 90 s).
    FEED_VEHICLE_MAX_AGE_S = env.env_int("FEED_VEHICLE_MAX_AGE_S", 300, minimum=1)
    # Stop time updates computed longer ago than this are not published: the progression
    # producer rewrites them on every matched position, so older ones mean matching stopped.
    FEED_STOP_TIME_UPDATE_MAX_AGE_S = env.env_int("FEED_STOP_TIME_UPDATE_MAX_AGE_S", 120, minimum=1)
    # A feed build re-encodes only what the writers marked; every this often it reads the
    # whole hot state instead (a safety net against a write without its mark).
    FEED_FULL_REBUILD_INTERVAL_S = env.env_int("FEED_FULL_REBUILD_INTERVAL_S", 300, minimum=1)
    # How many processes a full build of a large fleet (2,000 vehicles and runs or more)
    # reads, decides and encodes its entities in, forked from the worker running it
    # (schedule_engine.feeds.sharded_decision). 1 (the default) builds in the worker's own
    # process; set it to the cores the feed-building worker may use (docs/scaling.md).
    FEED_BUILD_PROCESSES = env.env_int("FEED_BUILD_PROCESSES", 1, minimum=1)
    # A cancelled trip stays in TripUpdates until its scheduled end plus this (its date only).
    CANCELED_TRIP_PUBLISH_MARGIN_S = env.env_int("CANCELED_TRIP_PUBLISH_MARGIN_S", 3600, minimum=0)
    # Which parts of a vehicle's descriptor riders see in the feeds: some agencies keep the
    # fleet label or licence plate private (the id is always published; GTFS-RT needs it).
    FEED_PUBLISH_VEHICLE_LABEL = env.env_bool("FEED_PUBLISH_VEHICLE_LABEL", True)
    FEED_PUBLISH_LICENSE_PLATE = env.env_bool("FEED_PUBLISH_LICENSE_PLATE", False)
    # A dispatcher's added trip is NEW in TripUpdates; consumers (and the MobilityData
    # validator's rules) that predate NEW know only the deprecated ADDED: publish that instead.
    FEED_ADDED_TRIPS_AS_ADDED = env.env_bool("FEED_ADDED_TRIPS_AS_ADDED", False)
    # Run lifecycle detection (shortened by end-to-end tests). The defaults are the domain's
    # (DESIGN.md): settings only override them; runs.services.thresholds builds the config.
    RUN_STALE_AFTER_S = env.env_float("RUN_STALE_AFTER_S", _DETECTION.stale_after_s)
    RUN_EXPIRE_AFTER_S = env.env_float("RUN_EXPIRE_AFTER_S", _DETECTION.expire_after_s)
    RUN_TERMINAL_ZONE_M = env.env_float("RUN_TERMINAL_ZONE_M", _DETECTION.terminal_zone_m)
    RUN_SCAN_INTERVAL_S = env.env_float("RUN_SCAN_INTERVAL_S", 30.0)
    # Finished runs older than this leave PostgreSQL with their stop events and transitions
    # (runs.services.retention); the reports' daily summaries stay.
    RUN_RETENTION_DAYS = env.env_int("RUN_RETENTION_DAYS", 400, minimum=1)
    RUN_PURGE_INTERVAL_S = env.env_int("RUN_PURGE_INTERVAL_S", 3600, minimum=1)
    # How often each worker checks that Redis still holds hot state (the epoch marker) and
    # rebuilds it from PostgreSQL if not (realtime_engine.hot_state_watch); 0: never.
    HOT_STATE_CHECK_INTERVAL_S = env.env_float("HOT_STATE_CHECK_INTERVAL_S", 5.0)
    # Stop zones of the map-matcher (agencies differ; WMATA: 50 / 50 / -1, a ±50 m zone
    # entered while still moving). A negative max speed: STOPPED_AT at any speed in the zone.
    PROGRESSION_STOPPED_RADIUS_M = env.env_float(
        "PROGRESSION_STOPPED_RADIUS_M", _MATCHING.stopped_radius_m
    )
    PROGRESSION_INCOMING_RADIUS_M = env.env_float(
        "PROGRESSION_INCOMING_RADIUS_M", _MATCHING.incoming_radius_m
    )
    PROGRESSION_STOPPED_MAX_SPEED_MPS = env.env_float(
        "PROGRESSION_STOPPED_MAX_SPEED_MPS", _MATCHING_STOPPED_MAX_SPEED_MPS
    )
    # The fastest a vehicle plausibly drives between two positions (sizes the matcher's
    # search window); a replay N times faster than real time needs N times this.
    PROGRESSION_MAX_SPEED_MPS = env.env_float("PROGRESSION_MAX_SPEED_MPS", _MATCHING.max_speed_mps)
    # Matcher states kept per run to re-match a fix that reaches a worker late (several
    # workers share one subscription): a fix older than all of them is dropped, counted.
    PROGRESSION_CHECKPOINTS = env.env_int("PROGRESSION_CHECKPOINTS", 16, minimum=1)
    # A run's predictions are computed again only when its stop or status changes, its
    # schedule deviation moves by this much, or the last computation is this old (s;
    # runs.domain.progression.prediction_refresh). The age stays under the feed's 120 s.
    PREDICTION_REFRESH_DEVIATION_S = env.env_float(
        "PREDICTION_REFRESH_DEVIATION_S", _REFRESH.deviation_s
    )
    PREDICTION_REFRESH_MAX_AGE_S = env.env_float("PREDICTION_REFRESH_MAX_AGE_S", _REFRESH.max_age_s)
    if PREDICTION_REFRESH_MAX_AGE_S >= FEED_STOP_TIME_UPDATE_MAX_AGE_S:
        raise env.ConfigError(
            "PREDICTION_REFRESH_MAX_AGE_S must be below FEED_STOP_TIME_UPDATE_MAX_AGE_S "
            "(a moving run would age out of TripUpdates)"
        )
    # Observed travel-time history for predictions: reloaded this often, over this many days.
    PREDICTION_HISTORY_REFRESH_S = env.env_float("PREDICTION_HISTORY_REFRESH_S", 300.0)
    PREDICTION_HISTORY_DAYS = env.env_int("PREDICTION_HISTORY_DAYS", 28, minimum=1)
    # How often beat derives the history's samples from the newest stop events (a stop
    # event reaches predictions after at most this plus the refresh above).
    PREDICTION_SAMPLES_INTERVAL_S = env.env_float("PREDICTION_SAMPLES_INTERVAL_S", 60.0)
    # Reports (docs/reports.md): the agency's on-time window (early before -EARLY_S, late
    # after +LATE_S), what counts as a frequent service for headway regularity, and when
    # the daily summary of a service day is written: this long after the next day's
    # origin (trips past midnight, 25:10:00, belong to the day before), every interval.
    REPORTS_ON_TIME_EARLY_S = env.env_int("REPORTS_ON_TIME_EARLY_S", 60, minimum=0)
    REPORTS_ON_TIME_LATE_S = env.env_int("REPORTS_ON_TIME_LATE_S", 300, minimum=0)
    REPORTS_FREQUENT_HEADWAY_S = env.env_int("REPORTS_FREQUENT_HEADWAY_S", 900, minimum=1)
    REPORTS_SUMMARY_LAG_S = env.env_int("REPORTS_SUMMARY_LAG_S", 6 * 3600, minimum=0)
    REPORTS_SUMMARY_INTERVAL_S = env.env_int("REPORTS_SUMMARY_INTERVAL_S", 3600, minimum=60)
    # The prediction log (reports.prediction_log, docs/reports.md): what TripUpdates told
    # riders, sampled this often, arrivals up to this far ahead, kept this many days (day
    # partitions: created this many days ahead, expired ones dropped, this often). A week:
    # the daily accuracy tallies (PredictionAccuracyDay) keep the long history.
    PREDICTION_LOG_INTERVAL_S = env.env_int("PREDICTION_LOG_INTERVAL_S", 60, minimum=1)
    PREDICTION_LOG_MAX_HORIZON_S = env.env_int("PREDICTION_LOG_MAX_HORIZON_S", 1800, minimum=1)
    PREDICTION_LOG_RETENTION_DAYS = env.env_int("PREDICTION_LOG_RETENTION_DAYS", 7, minimum=1)
    PREDICTION_LOG_PARTITIONS_AHEAD_DAYS = env.env_int(
        "PREDICTION_LOG_PARTITIONS_AHEAD_DAYS", 3, minimum=1
    )
    PREDICTION_LOG_PARTITIONS_INTERVAL_S = env.env_int(
        "PREDICTION_LOG_PARTITIONS_INTERVAL_S", 3600, minimum=1
    )
    LIVE_MAP_TILE_URL = env.env_str("LIVE_MAP_TILE_URL", "")
    # Live WebSocket updates (realtime_engine.ws): publish tick, per-client queue bound, heartbeat.
    LIVE_PUBLISH_INTERVAL_MS = env.env_int("LIVE_PUBLISH_INTERVAL_MS", 100, minimum=1)
    LIVE_WS_QUEUE_MAX = env.env_int("LIVE_WS_QUEUE_MAX", 256, minimum=1)
    LIVE_WS_HEARTBEAT_S = env.env_float("LIVE_WS_HEARTBEAT_S", 20.0)
    # Live WebSocket limits (docs/api/websocket.md "Limits", "Tickets"): the largest
    # client frame read (bytes, checked before parsing; uvicorn's --ws-max-size caps the
    # transport above it) and how long a POST /api/ws-ticket/ ticket stays redeemable.
    LIVE_WS_MAX_FRAME_BYTES = env.env_int("LIVE_WS_MAX_FRAME_BYTES", 4096, minimum=64)
    LIVE_WS_TICKET_TTL_S = env.env_int("LIVE_WS_TICKET_TTL_S", 30, minimum=1)
    # REST tokens, login throttling and lockout: docs/api.md "Authentication".
    # A token lives one shift (8 h) and is never refreshed by use: sign in again to rotate.
    API_TOKEN_TTL_S = env.env_int("API_TOKEN_TTL_S", 8 * 3600, minimum=60)
    # Live tokens per user (a tablet, a phone, a few browsers); a sign-in beyond revokes the oldest.
    API_TOKEN_LIMIT_PER_USER = env.env_int("API_TOKEN_LIMIT_PER_USER", 10, minimum=1)
    # The shared cache (DRF throttle counters): db 3 of the hot-state Redis unless set.
    CACHE_REDIS_URL = env.env_str("CACHE_REDIS_URL", env.redis_url_with_db(REDIS_URL, 3))
    env.parse_redis_url(CACHE_REDIS_URL, variable="CACHE_REDIS_URL")
    # Lockout (django-axes): this many failed sign-ins for one username, or from one address,
    # lock that username (from everywhere) or that address (for every username) this long.
    LOGIN_FAILURE_LIMIT = env.env_int("LOGIN_FAILURE_LIMIT", 10, minimum=1)
    LOGIN_LOCKOUT_S = env.env_int("LOGIN_LOCKOUT_S", 900, minimum=1)
    # Raw rate of POST /api/login/ (DRF throttles), counted per address and per username.
    LOGIN_RATE_PER_ADDRESS = env.env_str("LOGIN_RATE_PER_ADDRESS", "30/min")
    LOGIN_RATE_PER_USERNAME = env.env_str("LOGIN_RATE_PER_USERNAME", "10/min")
    for _variable in ("LOGIN_RATE_PER_ADDRESS", "LOGIN_RATE_PER_USERNAME"):
        if not re.fullmatch(r"[1-9]\d*/(s|sec|m|min|h|hour|d|day)", globals()[_variable]):
            raise env.ConfigError(f"{_variable} must look like 30/min (per s, min, hour or day)")
    # --- Production HTTPS, CSP and metrics access (docs/operations.md "TLS") ---
    # One switch: production is DATABUS_REQUIRE_SECRET_KEY=true (the image and compose.prod.yml
    # set it; compose.dev.yml, `make demo` and tests do not) without DEBUG. It turns on the
    # HTTPS defaults below; each can still be set on its own.
    PRODUCTION = not DEBUG and env.env_bool("DATABUS_REQUIRE_SECRET_KEY", False)
    # TLS ends at the proxy; it tells Django the scheme in this header (e.g. X-Forwarded-Proto).
    SECURE_PROXY_SSL_HEADER = env.env_proxy_ssl_header("SECURE_PROXY_SSL_HEADER")
    SECURE_SSL_REDIRECT = env.env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
    # Container healthchecks and scrapers talk plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^(healthz|readyz|metrics)$"]
    SECURE_HSTS_SECONDS = env.env_int(
        "SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0, minimum=0
    )
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    # Preloading is all but irreversible (browsers ship the list): an explicit opt-in.
    SECURE_HSTS_PRELOAD = env.env_bool("SECURE_HSTS_PRELOAD", False)
    SESSION_COOKIE_SECURE = env.env_bool("SESSION_COOKIE_SECURE", PRODUCTION)
    CSRF_COOKIE_SECURE = env.env_bool("CSRF_COOKIE_SECURE", PRODUCTION)
    # Bearer token of /metrics on web and of /readyz's detail; empty: web /metrics is 404.
    METRICS_TOKEN = env.env_str("METRICS_TOKEN", "").strip()
    if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
        raise env.ConfigError("METRICS_TOKEN must be at least 32 characters (or empty: disabled)")
    LIVE_MAP_TILE_SOURCE = content_security.tile_image_source(LIVE_MAP_TILE_URL)
except env.ConfigError as error:
    raise ImproperlyConfigured(str(error)) from error

# Not preloading HSTS is the default decision above, not an oversight, so
# check --deploy's reminder (W021) is silenced only while SECURE_HSTS_PRELOAD is off.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

INSTALLED_APPS = [
    "django_prometheus",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",  # expiring API tokens (rest_framework.authtoken's table may stay)
    "axes",  # login lockout (its AccessAttempt rows are in the admin)
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from here, not a CDN
    "csp",  # django-csp's checks of its settings
    "channels",
    "runs",
    "alerts",
    "realtime_engine",
    "reports",
    "schedule_engine",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    # A URL with bad bytes gets a 400 before any view.
    "backend.query_guard.QueryGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Turns a lockout flagged during the admin login into axes' 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "backend.urls"
WSGI_APPLICATION = "backend.wsgi.application"
ASGI_APPLICATION = "backend.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.django_database(DATABASE_ADDRESS)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [CHANNEL_REDIS_URL], "capacity": 1000, "expiry": 30},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.env_str("STATIC_ROOT", str(BASE_DIR / ".run" / "static")))
# Without collectstatic (development, tests) WhiteNoise serves straight from the apps.
WHITENOISE_USE_FINDERS = True
LOGIN_URL = "/admin/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",  # `Authorization: Token <key>`
        "rest_framework.authentication.SessionAuthentication",
    ],
    # A throttle's address is the peer's, never X-Forwarded-For (sign-in
    # throttles: runs.api.throttles, rates LOGIN_RATE_PER_*).
    "NUM_PROXIES": 0,
    # DRF's parsers, with a too-deep JSON body a 400, not a 500.
    "DEFAULT_PARSER_CLASSES": [
        "runs.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Every error status documented, one error body for every view.
    "DEFAULT_SCHEMA_CLASS": "backend.api_schema.ErrorDocumentingAutoSchema",
    "EXCEPTION_HANDLER": "runs.api.base.json_exception_handler",
    # Strict limit/offset (a 400 for a bad one), documented ranges.
    "DEFAULT_PAGINATION_CLASS": "databus.pagination.LimitOffsetPage",
    "PAGE_SIZE": 100,
}

# Knox tokens. A fixed lifetime, no refresh on use (a stolen token dies with
# the shift); the per-user limit is enforced by runs.services.api_tokens (oldest revoked).
REST_KNOX = {
    "TOKEN_TTL": dt.timedelta(seconds=API_TOKEN_TTL_S),
    "AUTO_REFRESH": False,
    "TOKEN_LIMIT_PER_USER": None,
    "AUTH_HEADER_PREFIX": "Token",
}

# The shared cache (throttle counters of every web process).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_REDIS_URL,
        "KEY_PREFIX": "databus",
        "OPTIONS": {"socket_connect_timeout": 3, "socket_timeout": 3},
    }
}

# Login lockout (django-axes) on /api/login/ and /admin/login/, recorded in
# PostgreSQL (AccessAttempt, visible and deletable in the admin; `manage.py axes_reset_username`).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out attempt unhashed
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = dt.timedelta(seconds=LOGIN_LOCKOUT_S)
# Independently: a username is locked from every address, an address for every username.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Not on success: a valid login would clear its address's failures against other accounts.
AXES_RESET_ON_SUCCESS = False
# Attempts during a lockout are refused, not counted: the lockout ends a cool-off after the
# last counted failure, so a user retrying does not extend their own.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "runs.api.throttles.client_address"
# Successful logins are not logged by axes (last_login and the token's creation record them).
AXES_DISABLE_ACCESS_LOG = True
AXES_HTTP_RESPONSE_CODE = 429

SPECTACULAR_SETTINGS = {
    "TITLE": "databus API",
    "DESCRIPTION": "Runs, vehicles, schedule and feeds of the databus real-time transit backend.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's files from drf-spectacular-sidecar (static), no CDN, and no
    # call to the public validator (validator.swagger.io) from an operator's browser.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# Content-Security-Policy (django-csp). Every page loads its scripts, styles,
# fonts and images from this origin only; the one inline <style> (Swagger UI's) by its hash;
# map tiles from LIVE_MAP_TILE_URL's host when one is set. The WebSocket is covered by 'self'
# (CSP 3 matches ws:/wss: of this host).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, content_security.SWAGGER_UI_STYLE_HASH],
        "img-src": [SELF, "data:", *filter(None, [LIVE_MAP_TILE_SOURCE])],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

CELERY_DEFAULT_QUEUE = "celery"
FEED_BUILD_QUEUE = "feeds"
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
# The feed builds have a queue of their own: a deployment may give them one worker process
# (compose.prod.yml's feed-builder), whose copy of the entity caches then serves every
# incremental build (schedule_engine/feeds/mirror.py). A worker started without -Q
# consumes both queues, so one worker alone still builds the feeds.
CELERY_TASK_QUEUES = (Queue(CELERY_DEFAULT_QUEUE), Queue(FEED_BUILD_QUEUE))
CELERY_TASK_DEFAULT_QUEUE = CELERY_DEFAULT_QUEUE
CELERY_TASK_ROUTES = {"schedule_engine.feeds.build": {"queue": FEED_BUILD_QUEUE}}
# Beat stopped by SIGTERM/SIGINT finishes the tick in hand first (databus/beat_scheduler.py).
CELERY_BEAT_SCHEDULER = "databus.beat_scheduler:TickFinishingScheduler"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.env_str("LOG_LEVEL", "INFO")},
}
