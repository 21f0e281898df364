"""Lifeboat settings, read from the environment.

Every setting has a default that runs the embedded set-up (SQLite, a broker that needs no
server, the dev chain on anvil). Setting ``CHAIN_RPC_URL`` leaves the embedded mode: then
DEBUG defaults to off, and keys and the secret key must be given. Code reads ``settings``,
never ``os.environ``; the README lists every variable.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from chain import devkeys

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: use 1/0, true/false, yes/no or on/off")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None


def _env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


VAR_DIR = Path(os.environ.get("LIFEBOAT_VAR_DIR", BASE_DIR / "var")).resolve()

# The embedded mode runs against the dev chain this project starts; any explicit RPC URL
# means a real deployment, where nothing insecure may be defaulted.
EMBEDDED = not os.environ.get("CHAIN_RPC_URL")

DEBUG = _env_bool("DEBUG", default=EMBEDDED)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: give it a long random value (e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'`) when DEBUG is off"
        )
    SECRET_KEY = "django-insecure-embedded-dev-only-" + "lifeboat" * 4

ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI's assets served from the project, so /api/docs/ works offline.
    "drf_spectacular_sidecar",
    "django_celery_results",
    "recovery",
    "proposals",
    "governance",
    "monitoring",
    "archive",
    "web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

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
                "web.context_processors.site",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'lifeboat.sqlite3'}"
if not os.environ.get("DATABASE_URL"):
    # The embedded default's SQLite file lives in VAR_DIR, which a fresh clone does not have.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker share the file: WAL lets readers run beside one writer,
    # and IMMEDIATE transactions take the write lock up front instead of failing on upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# The staff sign-in page (committee and executors); holders sign in with Ethereum instead.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
# WhiteNoise serves /static/ from the web process (gunicorn serves no files). DEBUG off: what
# `manage.py collectstatic` put in STATIC_ROOT (each file gzipped beside it by the storage below),
# listed once at start-up. DEBUG on, as here in the embedded mode and for the test suite (pytest
# imports these settings, then turns DEBUG off at run time): the apps' static folders, looked up
# at each request, so neither needs collectstatic. No manifest storage (hashed names): those two
# never run collectstatic, so names stay plain and browsers keep a file WhiteNoise's default 60 s.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Security: strict whenever DEBUG is off (`manage.py check --deploy` passes). ---
if not DEBUG:
    SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = _env_int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if _env_bool("SECURE_PROXY_SSL_HEADER", default=False):
        # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- REST API ---
REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "config.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Amounts travel as strings; a float in JSON loses base units past 2**53.
    "COERCE_DECIMAL_TO_STRING": True,
    # Basic first: an anonymous write gets 401 with `WWW-Authenticate: Basic` (the first class
    # names the challenge). API clients send Basic credentials over TLS; the pages and the
    # Swagger UI use the session (with its CSRF check).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.authentication.BasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Deny by default: a view that does not name its role answers reads only.
    "DEFAULT_PERMISSION_CLASSES": ["recovery.permissions.ReadOnly"],
}
# Database sessions that refuse a malformed session cookie instead of failing on its lookup.
SESSION_ENGINE = "config.sessions"
SPECTACULAR_SETTINGS = {
    "TITLE": "Lifeboat API",
    "DESCRIPTION": "Incidents, impact analyses and recovery plans. Amounts are base-unit integers as strings.",
    "VERSION": "0.1.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery ---
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_FOLDER = VAR_DIR / "celery" / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport: one existing folder serves as both in- and outbox.
    # Its exchange table goes to ``control_folder`` (default: ./control, wherever the process runs).
    CELERY_BROKER_FOLDER.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_FOLDER),
        "data_folder_out": str(CELERY_BROKER_FOLDER),
        "processed_folder": str(CELERY_BROKER_FOLDER),
        "store_processed": False,
        "control_folder": str(CELERY_BROKER_FOLDER.parent / "control"),
    }
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # An unacknowledged task comes back only after this; the workers' start-up reconciliation pass
    # picks up a killed worker's batch long before (see recovery/execution_reconcile.py).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": _env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=3600)
    }
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "django-db")
CELERY_RESULT_EXTENDED = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TRACK_STARTED = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "check-deployment": {"task": "recovery.tasks.check_deployment", "schedule": 60.0},
    # Re-queues pending impact analyses whose message was lost (broker down at request time).
    "requeue-lost-analyses": {"task": "recovery.tasks.requeue_lost_analyses", "schedule": 60.0},
}
LIFEBOAT_PREFLIGHT_ON_WORKER_START = _env_bool("LIFEBOAT_PREFLIGHT_ON_WORKER_START", default=True)

# --- Chain ---
# The embedded mode's dev chain listens on 127.0.0.1:DEVCHAIN_PORT (`manage.py devchain` starts it
# there). Preflight uses the dev keys only when that node answers as anvil with chain id 31337.
DEVCHAIN_PORT = _env_int("DEVCHAIN_PORT", default=8545)
DEVCHAIN_CHAIN_ID = 31337
CHAIN_RPC_URL = os.environ.get("CHAIN_RPC_URL") or f"http://127.0.0.1:{DEVCHAIN_PORT}"
# The chain id the node must report; empty accepts what the node says (the dev chain's is 31337).
CHAIN_ID = _env_int("CHAIN_ID", default=0) or None
CHAIN_RPC_TIMEOUT = _env_int("CHAIN_RPC_TIMEOUT", default=30)
DEVCHAIN_HOLDERS = _env_int("DEVCHAIN_HOLDERS", default=200)
# Blocks a reference block must lie below the head before an analysis takes it without being
# told (allow_unconfirmed); the dev chain has no reorgs of its own.
CONFIRMATION_DEPTH = _env_int("CONFIRMATION_DEPTH", default=0 if EMBEDDED else 12)
# A pending analysis older than this is enqueued again by the periodic sweep.
IMPACT_REQUEUE_AFTER_SECONDS = _env_int("IMPACT_REQUEUE_AFTER_SECONDS", default=300)
# A running analysis whose worker showed no sign of life for this long may be taken over.
IMPACT_RUNNING_LEASE_SECONDS = _env_int("IMPACT_RUNNING_LEASE_SECONDS", default=600)
DEVCHAIN_STATE_FILE = VAR_DIR / "devchain.json"

# --- Proposals and governance ---
# A pull plan's rehearsal runs every claim up to this many, else an even sample of this many (at least 2).
REHEARSAL_MAX_CLAIMS = max(2, _env_int("REHEARSAL_MAX_CLAIMS", default=500))
# Distinct committee members whose EIP-712 sign-off a document needs before it may be published.
SIGNOFF_THRESHOLD = _env_int("SIGNOFF_THRESHOLD", default=2)
# How often the indexer follows published proposals (Celery beat), in seconds.
GOVERNANCE_FOLLOW_INTERVAL_SECONDS = _env_int("GOVERNANCE_FOLLOW_INTERVAL_SECONDS", default=15)
CELERY_BEAT_SCHEDULE["follow-proposals"] = {
    "task": "governance.follow_proposals",
    "schedule": float(GOVERNANCE_FOLLOW_INTERVAL_SECONDS),
}
# Does nothing unless GOVERNANCE_AUTO_EXECUTE is on.
CELERY_BEAT_SCHEDULE["advance-publications"] = {
    "task": "governance.advance_publications",
    "schedule": float(GOVERNANCE_FOLLOW_INTERVAL_SECONDS),
}
# Queue and execute passed proposals without waiting for an executor's action.
GOVERNANCE_AUTO_EXECUTE = _env_bool("GOVERNANCE_AUTO_EXECUTE", default=False)
# Gasless ballots one voter may have relayed per hour.
BALLOT_RELAY_PER_VOTER_PER_HOUR = _env_int("BALLOT_RELAY_PER_VOTER_PER_HOUR", default=5)
# Sign-In-with-Ethereum nonces one client address may ask for per hour (then 429 with Retry-After).
SIWE_NONCES_PER_IP_PER_HOUR = _env_int("SIWE_NONCES_PER_IP_PER_HOUR", default=60)
# A refused CSRF check: JSON for /api/ and /auth/siwe/, a page otherwise.
CSRF_FAILURE_VIEW = "web.csrf.csrf_failure"
# Seconds a ballot relay waits for its receipt before answering 202 (the periodic task finishes it).
BALLOT_RELAY_RECEIPT_TIMEOUT_SECONDS = _env_int("BALLOT_RELAY_RECEIPT_TIMEOUT_SECONDS", default=60)
CELERY_BEAT_SCHEDULE["resume-ballot-relays"] = {
    "task": "governance.tasks_ballots.resume_ballot_relays",
    "schedule": 60.0,
}


# --- Snapshot ---
# The embedded mode runs a local Snapshot hub (`python -m snapshothub`) on 127.0.0.1:SNAPSHOT_HUB_PORT:
# its sequencer takes signed messages at `/`, its GraphQL answers at `/graphql`. A venue stores its own
# URLs (`venue add snapshot`); these are the defaults `make run` and the demo use.
SNAPSHOT_HUB_PORT = _env_int("SNAPSHOT_HUB_PORT", default=3400)
SNAPSHOT_SEQUENCER_URL = os.environ.get("SNAPSHOT_SEQUENCER_URL") or f"http://127.0.0.1:{SNAPSHOT_HUB_PORT}/"
SNAPSHOT_HUB_URL = os.environ.get("SNAPSHOT_HUB_URL") or f"http://127.0.0.1:{SNAPSHOT_HUB_PORT}/graphql"
# The space `make run` creates on the local hub.
SNAPSHOT_SPACE = os.environ.get("SNAPSHOT_SPACE", "lifeboat-demo.eth")
# HTTP to the sequencer and the hub: per-request timeout, attempts on a connection error or a 5xx,
# and the first backoff (doubled each attempt).
SNAPSHOT_HTTP_TIMEOUT_SECONDS = _env_int("SNAPSHOT_HTTP_TIMEOUT_SECONDS", default=10)
SNAPSHOT_HTTP_ATTEMPTS = max(1, _env_int("SNAPSHOT_HTTP_ATTEMPTS", default=4))
SNAPSHOT_HTTP_BACKOFF_SECONDS = float(os.environ.get("SNAPSHOT_HTTP_BACKOFF_SECONDS", "0.5"))
# How often published Snapshot proposals are followed (Celery beat), in seconds; a passed one is then
# approved on the RecoveryExecutor by the venue's approver unless SNAPSHOT_AUTO_APPROVE is off.
SNAPSHOT_FOLLOW_INTERVAL_SECONDS = _env_int("SNAPSHOT_FOLLOW_INTERVAL_SECONDS", default=15)
SNAPSHOT_AUTO_APPROVE = _env_bool("SNAPSHOT_AUTO_APPROVE", default=True)
# Signed votes one voter may have Lifeboat forward to the sequencer per hour (the endpoint is open).
SNAPSHOT_VOTES_PER_VOTER_PER_HOUR = _env_int("SNAPSHOT_VOTES_PER_VOTER_PER_HOUR", default=10)
CELERY_BEAT_SCHEDULE["follow-snapshot-proposals"] = {
    "task": "governance.tasks_snapshot.follow_snapshot_proposals",
    "schedule": float(SNAPSHOT_FOLLOW_INTERVAL_SECONDS),
}

# --- Execution of approved plans ---
# More executor keys (hex, comma-separated) that share a plan's batches with EXECUTOR_PRIVATE_KEY;
# each must hold EXECUTOR_ROLE on the RecoveryExecutor. Never logged or stored.
EXECUTOR_PRIVATE_KEYS = _env_list("EXECUTOR_PRIVATE_KEYS", "")
# No batch is signed with a max fee above this (wei per gas); a replacement that would need more waits.
EXECUTION_MAX_FEE_PER_GAS = _env_int("EXECUTION_MAX_FEE_PER_GAS", default=500 * 10**9)
# A sent transaction not mined after this long is replaced at its nonce with fees raised by >= 10%.
EXECUTION_STUCK_AFTER_SECONDS = _env_int("EXECUTION_STUCK_AFTER_SECONDS", default=180)
# Below this ETH balance (wei) a sender key's runs pause; they resume by themselves after a top-up.
EXECUTION_MIN_GAS_BALANCE_WEI = _env_int("EXECUTION_MIN_GAS_BALANCE_WEI", default=10**16)
# How long a batch task waits for its receipt before leaving the batch to reconciliation.
EXECUTION_RECEIPT_TIMEOUT_SECONDS = _env_int("EXECUTION_RECEIPT_TIMEOUT_SECONDS", default=60)
# The per-key sender lease (a row in the database): how long one holder keeps it without renewing.
EXECUTION_SENDER_LEASE_SECONDS = _env_int("EXECUTION_SENDER_LEASE_SECONDS", default=30)
# A pending batch of a running run enqueued this long ago without progress is enqueued again.
EXECUTION_REQUEUE_AFTER_SECONDS = _env_int("EXECUTION_REQUEUE_AFTER_SECONDS", default=120)
# Confirmed batches in the last this many blocks are checked against reorgs on every reconciliation.
EXECUTION_REORG_WINDOW_BLOCKS = _env_int("EXECUTION_REORG_WINDOW_BLOCKS", default=128)
# Gas limit of a batch: the node's estimate plus this margin (percent).
EXECUTION_GAS_MARGIN_PERCENT = _env_int("EXECUTION_GAS_MARGIN_PERCENT", default=20)
EXECUTION_RECONCILE_INTERVAL_SECONDS = _env_int("EXECUTION_RECONCILE_INTERVAL_SECONDS", default=15)
# Reconcile once when a worker starts (crash recovery: rebroadcast signed batches, re-enqueue pending ones).
EXECUTION_RECONCILE_ON_WORKER_READY = _env_bool("EXECUTION_RECONCILE_ON_WORKER_READY", default=True)
CELERY_BEAT_SCHEDULE["discover-approved-plans"] = {
    "task": "recovery.tasks_execution.discover_approved_plans",
    "schedule": float(EXECUTION_RECONCILE_INTERVAL_SECONDS),
}
CELERY_BEAT_SCHEDULE["reconcile-executions"] = {
    "task": "recovery.tasks_execution.reconcile_executions",
    "schedule": float(EXECUTION_RECONCILE_INTERVAL_SECONDS),
}


def _key_setting(role: str, dev_default: str) -> dict[str, str]:
    """Key material of one role: a hex key, or an encrypted keystore file and its password.

    Keys live only in the environment or the keystore file, never in the database. In the
    embedded mode a role with no key takes one of anvil's public development keys.
    """
    key = os.environ.get(f"{role}_PRIVATE_KEY", "")
    keystore = os.environ.get(f"{role}_KEYSTORE", "")
    if not key and not keystore and EMBEDDED:
        key = dev_default
    return {
        "role": role,
        "private_key": key,
        "keystore": keystore,
        "keystore_password": os.environ.get(f"{role}_KEYSTORE_PASSWORD", ""),
    }


LIFEBOAT_KEYS = {
    "executor": _key_setting("EXECUTOR", devkeys.EXECUTOR_KEY),
    "relayer": _key_setting("RELAYER", devkeys.RELAYER_KEY),
    "committee": _key_setting("COMMITTEE", devkeys.COMMITTEE_KEY),
}
# Sends `propose`: PROPOSER_PRIVATE_KEY or PROPOSER_KEYSTORE, and with neither the relayer's key.
_proposer = _key_setting("PROPOSER", "")
LIFEBOAT_KEYS["proposer"] = _proposer if _proposer["private_key"] or _proposer["keystore"] else LIFEBOAT_KEYS["relayer"]
# Sends the circuit breaker's pause(), the guardian's shutdown() and state-snapshot commits:
# GUARDIAN_PRIVATE_KEY or GUARDIAN_KEYSTORE, and with neither the committee's key (which holds the
# guardian roles on the dev chain).
_guardian = _key_setting("GUARDIAN", "")
LIFEBOAT_KEYS["guardian"] = (
    _guardian if _guardian["private_key"] or _guardian["keystore"] else LIFEBOAT_KEYS["committee"]
)

# Strings masked wherever they would leave the process (log records, start-up errors): the
# configured URLs (a URL's password, path and query too) and key material. Every record that
# reaches the console handler (Django's, Celery's worker and task records, libraries') is
# redacted first, and URLs in it lose their credentials and paths.
LIFEBOAT_SECRETS = [
    SECRET_KEY,
    CHAIN_RPC_URL,
    CELERY_BROKER_URL,
    *([DATABASE_URL] if not DATABASE_URL.startswith("sqlite:") else []),
    *(key[field] for key in LIFEBOAT_KEYS.values() for field in ("private_key", "keystore_password")),
    *EXECUTOR_PRIVATE_KEYS,
    SNAPSHOT_SEQUENCER_URL,
    SNAPSHOT_HUB_URL,
]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"redact": {"()": "config.logging.RedactSecrets", "secrets": LIFEBOAT_SECRETS}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own loggers write through handlers of its DEFAULT_LOGGING that have no
        # redaction; send their records to the root handler instead.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        "web3": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}

# --- State snapshots (archive app) ---
# Where snapshot files go: a local folder by default. For S3-compatible storage install
# django-storages[s3] and set STATE_SNAPSHOT_STORAGE_BACKEND=storages.backends.s3.S3Storage with
# STATE_SNAPSHOT_S3_BUCKET (credentials through boto3's own environment variables, never here).
STATE_SNAPSHOT_DIR = Path(os.environ.get("STATE_SNAPSHOT_DIR", VAR_DIR / "state-snapshots"))
STATE_SNAPSHOT_STORAGE_BACKEND = os.environ.get(
    "STATE_SNAPSHOT_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage"
)
STORAGES["state_snapshots"] = (
    {"BACKEND": STATE_SNAPSHOT_STORAGE_BACKEND, "OPTIONS": {"location": str(STATE_SNAPSHOT_DIR)}}
    if STATE_SNAPSHOT_STORAGE_BACKEND.endswith("FileSystemStorage")
    else {
        "BACKEND": STATE_SNAPSHOT_STORAGE_BACKEND,
        "OPTIONS": {
            "bucket_name": os.environ.get("STATE_SNAPSHOT_S3_BUCKET", ""),
            "location": os.environ.get("STATE_SNAPSHOT_S3_PREFIX", "state-snapshots"),
            # Empty: AWS itself; another S3-compatible service (MinIO, R2, ...) by its URL.
            "endpoint_url": os.environ.get("STATE_SNAPSHOT_S3_ENDPOINT_URL") or None,
            "file_overwrite": False,
        },
    }
)
# The periodic task takes a snapshot each time the confirmed head passes the last one by this many blocks.
STATE_SNAPSHOT_EVERY_BLOCKS = _env_int("STATE_SNAPSHOT_EVERY_BLOCKS", default=100 if EMBEDDED else 1000)
STATE_SNAPSHOT_CHECK_SECONDS = _env_int("STATE_SNAPSHOT_CHECK_SECONDS", default=60)
# Roles of the current deployment's contracts whose balances are archived (the demo's asset and vault shares).
STATE_SNAPSHOT_TOKEN_ROLES = _env_list("STATE_SNAPSHOT_TOKEN_ROLES", "asset,vault")
CELERY_BEAT_SCHEDULE["take-state-snapshot"] = {
    "task": "archive.tasks.take_periodic_snapshot",
    "schedule": float(STATE_SNAPSHOT_CHECK_SECONDS),
}
# --- end of state snapshots ---

# --- Monitor responses: circuit breaker, webhooks, email (monitoring/pausing.py, webhooks.py) ---
# One webhook from the environment (more through this list in a settings override): the URL may
# carry a token and the secret signs every request, so both join LIFEBOAT_SECRETS; actions and
# logs name the webhook by its name only.
_monitor_webhook_url = os.environ.get("MONITOR_WEBHOOK_URL", "")
MONITOR_WEBHOOKS = (
    [
        {
            "name": os.environ.get("MONITOR_WEBHOOK_NAME", "default"),
            "url": _monitor_webhook_url,
            "secret": os.environ.get("MONITOR_WEBHOOK_SECRET", ""),
        }
    ]
    if _monitor_webhook_url
    else []
)
LIFEBOAT_SECRETS += [value for hook in MONITOR_WEBHOOKS for value in (hook["url"], hook["secret"]) if value]
MONITOR_WEBHOOK_MAX_ATTEMPTS = _env_int("MONITOR_WEBHOOK_MAX_ATTEMPTS", default=8)
# A receiver refuses a signed request whose timestamp is further than this from its clock (replays).
MONITOR_WEBHOOK_TOLERANCE_SECONDS = _env_int("MONITOR_WEBHOOK_TOLERANCE_SECONDS", default=300)
MONITOR_WEBHOOK_TIMEOUT_SECONDS = _env_int("MONITOR_WEBHOOK_TIMEOUT_SECONDS", default=10)
MONITOR_EMAIL_TO = _env_list("MONITOR_EMAIL_TO", "")
MONITOR_EMAIL_FROM = os.environ.get("MONITOR_EMAIL_FROM", "lifeboat-monitor@localhost")
# The first retry of a failed pause, webhook or email waits this long, doubled per attempt (at most 5 min).
MONITOR_RESPONSE_BACKOFF_SECONDS = float(os.environ.get("MONITOR_RESPONSE_BACKOFF_SECONDS", "2"))
MONITOR_PAUSE_MAX_ATTEMPTS = _env_int("MONITOR_PAUSE_MAX_ATTEMPTS", default=5)
MONITOR_PAUSE_RECEIPT_TIMEOUT_SECONDS = _env_int("MONITOR_PAUSE_RECEIPT_TIMEOUT_SECONDS", default=30)
MONITOR_PAUSE_MAX_FEE_PER_GAS = _env_int("MONITOR_PAUSE_MAX_FEE_PER_GAS", default=EXECUTION_MAX_FEE_PER_GAS)
# The embedded mode prints emails on the console; set EMAIL_BACKEND (and Django's EMAIL_HOST ...) for SMTP.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if EMBEDDED else "django.core.mail.backends.smtp.EmailBackend",
)
# --- end of monitor responses ---

# --- Monitor engine (monitoring app) ---
# Celery beat runs the due monitors this often; each watched deployment also has its own
# interval_seconds (it is run when that much time has passed since its last run).
MONITOR_INTERVAL_SECONDS = float(os.environ.get("MONITOR_INTERVAL_SECONDS", "5"))
# A monitor's node must answer quickly: a slow node is reported unreachable rather than waited for.
MONITOR_RPC_TIMEOUT_SECONDS = _env_int("MONITOR_RPC_TIMEOUT_SECONDS", default=5)
MONITOR_RPC_RETRIES = _env_int("MONITOR_RPC_RETRIES", default=1)
# A run's lease on its deployment expires after this long (a worker that died mid-run holds it no longer).
MONITOR_LEASE_SECONDS = _env_int("MONITOR_LEASE_SECONDS", default=120)
CELERY_BEAT_SCHEDULE["run-monitors"] = {
    "task": "monitoring.tasks.run_monitors",
    "schedule": MONITOR_INTERVAL_SECONDS,
    # A tick not started before the next one is dropped: the next covers the same blocks.
    "options": {"expires": MONITOR_INTERVAL_SECONDS},
}
# --- end of monitor engine ---

# --- Monitor observation retention (monitoring/retention.py) ---
# Observations older than this are deleted, except each rule's latest MONITOR_OBSERVATION_KEEP_LATEST
# and every observation a firing cites as evidence.
MONITOR_OBSERVATION_RETENTION_DAYS = _env_int("MONITOR_OBSERVATION_RETENTION_DAYS", default=30)
MONITOR_OBSERVATION_KEEP_LATEST = _env_int("MONITOR_OBSERVATION_KEEP_LATEST", default=100)
MONITOR_RETENTION_INTERVAL_SECONDS = _env_int("MONITOR_RETENTION_INTERVAL_SECONDS", default=3600)
CELERY_BEAT_SCHEDULE["prune-observations"] = {
    "task": "monitoring.tasks.prune_observations",
    "schedule": float(MONITOR_RETENTION_INTERVAL_SECONDS),
}
# --- end of monitor observation retention ---
