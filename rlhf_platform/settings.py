"""The one settings module of the platform.

Everything comes from the environment. With nothing set the platform runs on embedded
development defaults (SQLite under the data directory, eager Celery, in-memory channel layer)
and says so loudly through the system check ``rlhf_platform.W001``. Setting ``DEBUG=0`` is
production mode: ``SECRET_KEY`` and ``ALLOWED_HOSTS`` are then required, and the development
secret key is refused at start.

| variable        | unset (embedded default)                 | set                              |
| --------------- | ---------------------------------------- | -------------------------------- |
| DATA_DIR        | ``<repo>/.data``                          | where SQLite, evidence files go  |
| DATABASE_URL    | SQLite file ``DATA_DIR/platform.sqlite3`` | PostgreSQL (psycopg 3)           |
| REDIS_URL       | in-memory channel layer, eager Celery    | Redis channel layer and broker   |
| SECRET_KEY      | development key (refused when DEBUG=0)   | required in production           |
| DEBUG           | ``1``                                    | ``0`` for production             |
| ALLOWED_HOSTS   | localhost, 127.0.0.1, testserver         | required in production           |
| CHAIN_RPC_URL   | in-process EVM, token deployed at start  | an EVM JSON-RPC node (with       |
|                 | (its state is lost at restart)           | CHAIN_PAYER_KEY, CHAIN_TOKEN_... )|

docs/configuration.md lists every variable (quality, rewards, chain, payouts).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def env_list(name: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, "").split(",") if part.strip()]


DEV_SECRET_KEY = "dev-insecure-only-for-local-use-never-in-production"

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "") or (DEV_SECRET_KEY if DEBUG else "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") or (
    ["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else []
)
# True while any embedded development default is in force; the system check W001 reports it.
USING_DEV_DEFAULTS = DEBUG or SECRET_KEY == DEV_SECRET_KEY

if not DEBUG:
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG=0 (production mode).")
    if SECRET_KEY == DEV_SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is the development key; set a secret of your own when DEBUG=0."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS is required when DEBUG=0 (production mode).")

DATA_DIR = Path(os.environ.get("DATA_DIR") or BASE_DIR / ".data")
# Parallel test workers (pytest-xdist names them gw0, gw1, ...) each get a data folder and a Redis
# database of their own: every test empties the cache, which on Redis empties the database (the
# broker's queues and the channel layer with it). Processes a test starts inherit both.
TEST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if TEST_WORKER.startswith("gw") and TEST_WORKER[2:].isdigit():
    DATA_DIR = DATA_DIR / TEST_WORKER
    os.environ["DATA_DIR"] = str(DATA_DIR)
    if os.environ.get("REDIS_URL"):
        _redis = urlsplit(os.environ["REDIS_URL"])
        _db = int(_redis.path.strip("/") or 0) + 1 + int(TEST_WORKER[2:])
        os.environ["REDIS_URL"] = _redis._replace(path=f"/{_db}").geturl()
DATA_DIR.mkdir(parents=True, exist_ok=True)
(DATA_DIR / "static").mkdir(exist_ok=True)  # whitenoise warns when STATIC_ROOT is missing

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "rlhf_platform.accounts",
    "rlhf_platform.audit",
    "rlhf_platform.experts",
    "rlhf_platform.webhooks",
    "annotate",
    "annotate.qualification",
    "rewards",
    "rewards.payouts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "rlhf_platform.core.security_headers.ContentSecurityPolicyMiddleware",
    "rlhf_platform.core.middleware.StaticFilesMiddleware",  # WhiteNoise, async-capable
    "rlhf_platform.core.text.QueryTextMiddleware",  # a NUL in a query string: 400
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "rlhf_platform.core.sessions.SessionTimeoutMiddleware",  # idle timeout, absolute maximum
    "rlhf_platform.core.query_params.UnknownQueryParameterMiddleware",  # /api/: 400 naming it
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "rlhf_platform.urls"
WSGI_APPLICATION = "rlhf_platform.wsgi.application"
ASGI_APPLICATION = "rlhf_platform.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "frontend_templates"],
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

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
# With every pooled connection busy, a request waits this long for one and is then answered
# 503 with Retry-After: DB_POOL_RETRY_AFTER (rlhf_platform/core/overload.py).
DB_POOL_TIMEOUT = float(os.environ.get("DB_POOL_TIMEOUT", 5))
DB_POOL_RETRY_AFTER = float(os.environ.get("DB_POOL_RETRY_AFTER", 5))
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # A connection pool per process (psycopg_pool). Under ASGI every request runs its sync
        # code in a thread of its own, so persistent per-thread connections would pile up to
        # PostgreSQL's limit; the pool bounds them and saves the connect on each request.
        DATABASES["default"]["OPTIONS"] = {
            "pool": {
                "min_size": int(os.environ.get("DB_POOL_MIN", 2)),
                "max_size": int(os.environ.get("DB_POOL_MAX", 12)),
                "timeout": DB_POOL_TIMEOUT,
            }
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "platform.sqlite3",
            # SQLite serialises writers; waiting beats failing with "database is locked".
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
            # Tests on a file too, not Django's shared in-memory database: there the live
            # server's threads and the test body share one connection, and a browser's request
            # that overlaps a query of the test fails with "database table is locked". A file
            # gives each thread its own connection, serialised by SQLite's lock and the timeout
            # (one file per test run, so two runs at once do not share it).
            "TEST": {"NAME": str(DATA_DIR / f"test_platform_{os.getpid()}.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Identity -------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# ModelBackend that reads the expert profile with the user (one query per request, not two).
AUTHENTICATION_BACKENDS = ["rlhf_platform.accounts.backends.PlatformBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Log-in throttle (rlhf_platform/accounts/login_throttle.py; counters in the cache) -------
# This many failed log-ins of one account within the window lock it: the first lock lasts
# LOGIN_LOCKOUT_SECONDS, each further one within a day twice as long, at most the maximum.
LOGIN_LOCKOUT_FAILURES = int(os.environ.get("LOGIN_LOCKOUT_FAILURES", 5))
LOGIN_FAILURE_WINDOW_SECONDS = int(os.environ.get("LOGIN_FAILURE_WINDOW_SECONDS", 900))
LOGIN_LOCKOUT_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_SECONDS", 60))
LOGIN_LOCKOUT_MAX_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_MAX_SECONDS", 3600))
# Failed log-ins from one client address (an IPv6 /64) within the window before it must wait.
LOGIN_IP_MAX_FAILURES = int(os.environ.get("LOGIN_IP_MAX_FAILURES", 30))
LOGIN_IP_WINDOW_SECONDS = int(os.environ.get("LOGIN_IP_WINDOW_SECONDS", 900))
# Log-in fingerprints (keyed hashes of address and user agent, rlhf_platform/accounts/
# fingerprints.py) are deleted this many days after the log-in (a daily beat task).
LOGIN_FINGERPRINT_RETENTION_DAYS = int(os.environ.get("LOGIN_FINGERPRINT_RETENTION_DAYS", 90))

# --- Sessions -------------------------------------------------------------------------------
# A session ends after this long without a request (rlhf_platform/core/sessions.py refreshes it
# at most once a minute), and in any case this long after its log-in.
SESSION_IDLE_TIMEOUT_SECONDS = int(os.environ.get("SESSION_IDLE_TIMEOUT_SECONDS", 1800))
SESSION_MAX_AGE_SECONDS = int(os.environ.get("SESSION_MAX_AGE_SECONDS", 12 * 3600))
SESSION_COOKIE_AGE = SESSION_IDLE_TIMEOUT_SECONDS

# --- E-mail (password reset links) ----------------------------------------------------------
# Development prints e-mails on the console; production sends them by SMTP (EMAIL_HOST, ...).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or (
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 587))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)  # TLS from the first byte (port 465)
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", not EMAIL_USE_SSL)  # STARTTLS (port 587)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", 10))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "RLHF expert platform <noreply@localhost>")
# The address links in e-mails start with (https://annotate.example.org); unset: the host the
# request came to (one of ALLOWED_HOSTS).
SITE_URL = os.environ.get("SITE_URL", "").rstrip("/")
# A password reset link works this long (and once: it dies with the password it was made for).
PASSWORD_RESET_TIMEOUT = int(os.environ.get("PASSWORD_RESET_TIMEOUT", 3600))
# Reset e-mails sent per account per hour (more requests are dropped silently), and requests
# one client address may make per hour (429 after).
PASSWORD_RESET_EMAILS_PER_HOUR = int(os.environ.get("PASSWORD_RESET_EMAILS_PER_HOUR", 3))
PASSWORD_RESET_REQUESTS_PER_HOUR = int(os.environ.get("PASSWORD_RESET_REQUESTS_PER_HOUR", 20))
# Sign-ups one client address may try per hour (429 after): each hashes a password (about 0.3 s
# of CPU) and creates an account.
SIGNUPS_PER_HOUR = int(os.environ.get("SIGNUPS_PER_HOUR", 20))

# --- The queue's fast path (annotate/queue/fast_path.py) -----------------------------------------
# next and submit answered in front of Django on PostgreSQL; off: always Django's path.
QUEUE_FAST_PATH = env_bool("QUEUE_FAST_PATH", True)
# How long the fast path trusts Django's eligibility verdict for an expert and project
# (credential level, qualification, budget); suspensions and the project's status are
# re-checked on every request regardless.
QUEUE_FAST_ELIGIBILITY_SECONDS = float(os.environ.get("QUEUE_FAST_ELIGIBILITY_SECONDS", 1.0))
QUEUE_FAST_POOL_MAX = int(os.environ.get("QUEUE_FAST_POOL_MAX", 8))

# --- Redis: channel layer and Celery ------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://"
    # No broker: tasks run in the calling process, after the transaction commits like always.
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# A drain (quality step, rewards, holdbacks, adjustments, ...) works this long, then queues
# itself again if work remains, so that no task holds its worker for more than a few seconds.
TASK_SLICE_SECONDS = float(os.environ.get("TASK_SLICE_SECONDS", "2"))


def _backlog_goals(name: str) -> dict[str, float]:
    """``quality=2,webhooks=10``: the stages whose goal differs from the default."""
    goals = {}
    for part in env_list(name):
        stage, _, seconds = (piece.strip() for piece in part.partition("="))
        try:
            goals[stage] = float(seconds)
        except ValueError:
            goals[stage] = float("nan")
        if stage not in {"quality", "rewards", "webhooks", "ingest", "payouts"} or not goals[stage] > 0:
            raise ImproperlyConfigured(
                f"{name}: {part!r} is not stage=seconds with a stage of quality, rewards, webhooks, "
                "ingest, payouts and a positive number of seconds"
            )
    return goals


# The background work's backlog (rlhf_platform.core.backlog): a stage whose oldest waiting row
# is older than its goal shows as behind on /staff/pipeline/ and in /healthz's details.
# Defaults: quality 2, rewards 5, webhooks 5, ingest 60, payouts 900 seconds.
BACKLOG_GOAL_SECONDS = _backlog_goals("BACKLOG_GOAL_SECONDS")
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "credentials-expire-hourly": {
        "task": "rlhf_platform.experts.tasks.credentials_expire_task",
        "schedule": 3600.0,
    },
    "assignments-expire-every-30s": {
        "task": "annotate.tasks.assignments_expire_task",
        "schedule": 30.0,
    },
    "batches-stalled-sweep-every-5-minutes": {
        "task": "annotate.tasks.batches_stalled_sweep_task",
        "schedule": 300.0,
    },
    "webhook-sweep-every-minute": {
        "task": "rlhf_platform.webhooks.tasks.webhook_sweep_task",
        "schedule": 60.0,
    },
    "quality-labels-sweep-every-minute": {
        "task": "annotate.quality.tasks.labels_quality_sweep_task",
        "schedule": 60.0,
    },
    "quality-models-refresh-every-5-minutes": {
        "task": "annotate.quality.tasks.quality_models_refresh_task",
        "schedule": 300.0,
    },
    "login-fingerprints-purge-daily": {
        "task": "rlhf_platform.accounts.tasks.login_fingerprints_purge_task",
        "schedule": 86400.0,
    },
    "rewards-clawbacks-every-10-minutes": {
        "task": "rewards.tasks.clawbacks_reconcile_task",
        "schedule": 600.0,
    },
    "rewards-holdbacks-every-10-minutes": {
        "task": "rewards.tasks.holdbacks_settle_task",
        "schedule": 600.0,
    },
    "rewards-missing-every-10-minutes": {
        "task": "rewards.tasks.rewards_missing_sweep_task",
        "schedule": 600.0,
    },
    "rewards-adjustments-every-10-minutes": {
        "task": "rewards.tasks.reward_adjustments_task",
        "schedule": 600.0,
    },
    # Payouts: a run every PAYOUT_SCHEDULE_SECONDS; unfinished runs resumed every minute.
    "payouts-run-scheduled": {
        "task": "rewards.payouts.tasks.payout_run_scheduled_task",
        "schedule": float(os.environ.get("PAYOUT_SCHEDULE_SECONDS", 86400)),
    },
    "payouts-resume-every-minute": {
        "task": "rewards.payouts.tasks.payout_runs_resume_task",
        "schedule": 60.0,
    },
}

# --- Quality --------------------------------------------------------------------------------
# The periodic Dawid-Skene fit refits a project once this many labels arrived since its last fit.
QUALITY_REFIT_MIN_NEW_LABELS = int(os.environ.get("QUALITY_REFIT_MIN_NEW_LABELS", "200"))
# Pseudo-counts added to every cell of each annotator's Dawid-Skene confusion matrix (a symmetric
# Dirichlet prior that only keeps log(0) away). 0.01 gives crowd-kit's posteriors on the Dawid-Skene
# (1979) data; 1.0 flipped 5 of its 45 patients. Annotators with few labels are held by the
# expertise-level prior below, not by this.
QUALITY_DS_SMOOTHING = float(os.environ.get("QUALITY_DS_SMOOTHING", "0.01"))
# Weight, in labels per confusion row, of the prior centred on the annotator's level accuracy
# (annotate/quality/consensus_model.py: LEVEL_ACCURACY).
QUALITY_DS_PRIOR_STRENGTH = float(os.environ.get("QUALITY_DS_PRIOR_STRENGTH", "4"))
# The same prior for the weighted majority vote's one accuracy per annotator, in labels.
QUALITY_ACCURACY_PRIOR_STRENGTH = float(os.environ.get("QUALITY_ACCURACY_PRIOR_STRENGTH", "2"))
# Folds of the held-out gold comparison that chooses Dawid-Skene or the weighted majority vote.
QUALITY_MODEL_CHOICE_FOLDS = int(os.environ.get("QUALITY_MODEL_CHOICE_FOLDS", "5"))
# The collusion test at fit time reads the project's most recent labels, at most this many.
QUALITY_COLLUSION_MAX_LABELS = int(os.environ.get("QUALITY_COLLUSION_MAX_LABELS", "200000"))
# Two annotators are tested for collusion once they share this many items.
QUALITY_COLLUSION_MIN_SHARED = int(os.environ.get("QUALITY_COLLUSION_MIN_SHARED", "10"))
# Suspected groups (annotate/quality/groups.py, docs/quality.md "Groups"): the family-wise false
# edge rate of the agreement and submit-timing signals across a project's pairs; the window in
# which two submits count as close, how many close ones a pair needs before it is tested, and how
# many of the project's latest submits the timing signal reads; a device or credential file
# shared by more accounts than this is a shared network, not a person.
QUALITY_GROUP_ALPHA = float(os.environ.get("QUALITY_GROUP_ALPHA", "0.01"))
# The largest group the group agreement signal scores (alpha is shared among the sizes 3 .. this).
QUALITY_GROUP_MAX_SIZE = int(os.environ.get("QUALITY_GROUP_MAX_SIZE", "12"))
QUALITY_GROUP_TIMING_WINDOW_SECONDS = float(os.environ.get("QUALITY_GROUP_TIMING_WINDOW_SECONDS", "30"))
QUALITY_GROUP_TIMING_MIN_CLOSE = int(os.environ.get("QUALITY_GROUP_TIMING_MIN_CLOSE", "5"))
QUALITY_GROUP_TIMING_MAX_LABELS = int(os.environ.get("QUALITY_GROUP_TIMING_MAX_LABELS", "50000"))
# Past this many (submit, submit within the window) pairs the timing signal is skipped: a burst
# where everyone is close to everyone tells no pair apart, and the work grows with its square.
QUALITY_GROUP_TIMING_MAX_CLOSE_PAIRS = int(os.environ.get("QUALITY_GROUP_TIMING_MAX_CLOSE_PAIRS", "5000000"))
QUALITY_GROUP_DEVICE_MAX_ACCOUNTS = int(os.environ.get("QUALITY_GROUP_DEVICE_MAX_ACCOUNTS", "25"))
# The suspension test (annotate/quality/cusum.py, docs/quality.md): a CUSUM of gold and silver
# evidence with a false-suspension probability of at most ALPHA / DESIGN_SIZE per annotator (at
# accuracy p0 = the project's gold_threshold) within HORIZON pieces of evidence, so at most ALPHA
# for any DESIGN_SIZE annotators of a project (Bonferroni). P1: the bad gold accuracy it detects.
QUALITY_SUSPEND_ALPHA = float(os.environ.get("QUALITY_SUSPEND_ALPHA", "0.05"))
QUALITY_SUSPEND_DESIGN_SIZE = int(os.environ.get("QUALITY_SUSPEND_DESIGN_SIZE", "100"))
QUALITY_SUSPEND_HORIZON = int(os.environ.get("QUALITY_SUSPEND_HORIZON", "1000"))
QUALITY_SUSPEND_P1 = float(os.environ.get("QUALITY_SUSPEND_P1", "0.25"))
# Silver evidence: each ordinary label against its item's leave-one-out posterior when the item
# became final; SILVER_P0 is the good accuracy there (the bad one answers at random).
QUALITY_SUSPEND_SILVER_P0 = float(os.environ.get("QUALITY_SUSPEND_SILVER_P0", "0.55"))
# An item a trusted annotator (fitted accuracy at least this, a good gold record, no suspected
# group) disagrees with is not finalised on the others' word: more labels, then adjudication.
# Above 1: off.
QUALITY_DISSENT_ACCURACY = float(os.environ.get("QUALITY_DISSENT_ACCURACY", "0.85"))
# Silver gold: an ordinary item final with a consensus this sure, vouched for outside every
# suspected group, joins the gold pool; silver items stay at most this share of the pool.
QUALITY_SILVER_GOLD_CONFIDENCE = float(os.environ.get("QUALITY_SILVER_GOLD_CONFIDENCE", "0.98"))
QUALITY_SILVER_GOLD_MAX_SHARE = float(os.environ.get("QUALITY_SILVER_GOLD_MAX_SHARE", "0.5"))

# --- Batches --------------------------------------------------------------------------------
# Bodies up to this size are ingested in the request (201); larger ones by a worker (202).
BATCH_INLINE_MAX_BYTES = int(os.environ.get("BATCH_INLINE_MAX_BYTES", 1 << 20))
BATCH_MAX_BYTES = int(os.environ.get("BATCH_MAX_BYTES", 1 << 30))
# A batch ingesting this long without progress (its worker or request died) is failed as
# "stalled" by the sweep (annotate/ingest/stalled.py) every 5 minutes.
BATCH_STALLED_SECONDS = float(os.environ.get("BATCH_STALLED_SECONDS", 900))

# --- Exports --------------------------------------------------------------------------------
# A Parquet export is written to a temporary file before it is sent: past this size it is
# abandoned (413 export_too_large). JSON Lines exports are streamed and have no limit.
EXPORT_PARQUET_MAX_BYTES = int(os.environ.get("EXPORT_PARQUET_MAX_BYTES", 1 << 30))

# --- Request limits (rlhf_platform/core/request_guard.py; serve.py for the headers) -----------
# Every body but a batch upload and an evidence file; refused on Content-Length at once (413).
REQUEST_MAX_BYTES = int(os.environ.get("REQUEST_MAX_BYTES", 2 << 20))
# JSON bodies nesting deeper than this are refused (400) before any parser sees them.
JSON_MAX_DEPTH = int(os.environ.get("JSON_MAX_DEPTH", "64"))
# A body must arrive within this many seconds plus its size at the minimum rate (408 after).
REQUEST_BODY_TIMEOUT_SECONDS = float(os.environ.get("REQUEST_BODY_TIMEOUT_SECONDS", "30"))
REQUEST_BODY_MIN_RATE = int(os.environ.get("REQUEST_BODY_MIN_RATE", 16 * 1024))
# A connection must send a request's whole head within this many seconds, or it is closed.
REQUEST_HEADER_TIMEOUT_SECONDS = float(os.environ.get("REQUEST_HEADER_TIMEOUT_SECONDS", "10"))

# --- Webhooks -------------------------------------------------------------------------------
# Development and tests deliver to 127.0.0.1; production refuses private targets (SSRF).
WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", DEBUG)
# First retry after this many seconds, doubling each time (8 attempts in all).
WEBHOOK_RETRY_BASE_SECONDS = float(os.environ.get("WEBHOOK_RETRY_BASE_SECONDS", "10"))
# The sweep queues a due delivery again only when its message is this overdue (taken as lost).
WEBHOOK_REQUEUE_SECONDS = float(os.environ.get("WEBHOOK_REQUEUE_SECONDS", "300"))

# --- Chain and payouts ----------------------------------------------------------------------
# Unset CHAIN_RPC_URL: an in-process EVM (eth-tester/py-evm) with the token deployed at start;
# its state is lost when the process exits (see rewards/chain.py). Set: any EVM JSON-RPC node.
CHAIN_RPC_URL = os.environ.get("CHAIN_RPC_URL", "")
CHAIN_PAYER_KEY = os.environ.get("CHAIN_PAYER_KEY", "")
CHAIN_PAYER_KEYSTORE = os.environ.get("CHAIN_PAYER_KEYSTORE", "")
CHAIN_PAYER_KEYSTORE_PASSWORD_FILE = os.environ.get("CHAIN_PAYER_KEYSTORE_PASSWORD_FILE", "")
CHAIN_TOKEN_ADDRESS = os.environ.get("CHAIN_TOKEN_ADDRESS", "")
# The chain id the node must report (checked when the client connects; shown in /healthz).
CHAIN_ID = int(os.environ["CHAIN_ID"]) if os.environ.get("CHAIN_ID") else None
# Blocks a payout transaction must be buried under (its own block counts as 1) before paid.
CHAIN_CONFIRMATIONS = int(os.environ.get("CHAIN_CONFIRMATIONS", 1))
CHAIN_MAX_TX_GAS = int(os.environ.get("CHAIN_MAX_TX_GAS", 15_000_000))
CHAIN_TOKEN_NAME = os.environ.get("CHAIN_TOKEN_NAME", "RLHF Reward")
CHAIN_TOKEN_SYMBOL = os.environ.get("CHAIN_TOKEN_SYMBOL", "RLHF")
# The in-process chain's token supply, all held by the payer (1e9 tokens of 18 decimals).
CHAIN_DEV_SUPPLY = int(os.environ.get("CHAIN_DEV_SUPPLY", 10**27))
# Smallest payable balance a payout run pays (token base units; default 1 token).
PAYOUT_MIN_AMOUNT = int(os.environ.get("PAYOUT_MIN_AMOUNT", 10**18))
# Recipients per transaction (at most 200, and fewer if CHAIN_MAX_TX_GAS cannot hold them).
PAYOUT_BATCH_SIZE = min(int(os.environ.get("PAYOUT_BATCH_SIZE", 200)), 200)
# Four eyes on payouts: a run an admin starts waits for another admin's approval; a scheduled
# run (no person behind it) starts at once only when its total is at most this (base units;
# default 1,000 tokens), and waits for an admin's approval otherwise.
PAYOUT_UNATTENDED_MAX_TOTAL = int(os.environ.get("PAYOUT_UNATTENDED_MAX_TOTAL", 1000 * 10**18))
# Sign-In with Ethereum messages for wallet linking: valid this long; a linked wallet can be
# changed only after the cooldown.
WALLET_MESSAGE_TTL_SECONDS = int(os.environ.get("WALLET_MESSAGE_TTL_SECONDS", 600))
WALLET_CHANGE_COOLDOWN_SECONDS = int(os.environ.get("WALLET_CHANGE_COOLDOWN_SECONDS", 7 * 86400))

# --- Rewards --------------------------------------------------------------------------------
# Four eyes on budget credits: a credit that, with the lab's other single-admin credits of the
# last 24 hours, exceeds this (base units; default 1,000 tokens) waits for a second admin.
BUDGET_CREDIT_APPROVAL_THRESHOLD = int(os.environ.get("BUDGET_CREDIT_APPROVAL_THRESHOLD", 1000 * 10**18))
# The budget gate (rewards/selectors.py) caches a lab's commitments this long, and counts them
# exactly whenever the headroom is under this many maximum rewards.
REWARDS_COMMITMENTS_CACHE_SECONDS = float(os.environ.get("REWARDS_COMMITMENTS_CACHE_SECONDS", 5))
REWARDS_GATE_EXACT_MARGIN_LABELS = int(os.environ.get("REWARDS_GATE_EXACT_MARGIN_LABELS", 1000))
# Policies of kind "information": the project's most recent labels from which the sign of the
# Delta matrix (joint minus product of marginals of two annotators' answers on one item) is
# estimated for the peer-prediction term.
REWARDS_PEER_DELTA_LABELS = int(os.environ.get("REWARDS_PEER_DELTA_LABELS", 20000))
# Policies of kind information: an annotator's labels in a project are held in full until they
# have this many score windows of labels there and their windows hold none of those first labels
# (rewards/policy_information.py).
REWARDS_HOLD_IN_FULL_WINDOWS = int(os.environ.get("REWARDS_HOLD_IN_FULL_WINDOWS", 2))
# The sweep of final items whose rewards are missing (rewards.tasks.rewards_missing_sweep_task)
# looks at items finalised between these many seconds ago.
REWARDS_MISSING_GRACE_SECONDS = int(os.environ.get("REWARDS_MISSING_GRACE_SECONDS", 120))
REWARDS_MISSING_HORIZON_SECONDS = int(os.environ.get("REWARDS_MISSING_HORIZON_SECONDS", 7 * 86400))

# --- Files ----------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "frontend_templates" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    # Evidence files: outside any URL space, served only through a view that checks access.
    "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "private")},
    },
}
MEDIA_ROOT = DATA_DIR / "media"
WHITENOISE_USE_FINDERS = DEBUG
EVIDENCE_MAX_BYTES = int(os.environ.get("EVIDENCE_MAX_BYTES", 10 * 1024 * 1024))
# A request may be a little larger than the largest evidence file (the other form fields).
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# Throttle counters. Per process in development; shared through Redis when REDIS_URL is set.
CACHES = (
    {"default": {"BACKEND": "rlhf_platform.core.cache.RedisCache", "LOCATION": REDIS_URL}}
    if REDIS_URL
    else {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
)

# Sessions are read on every request of a logged-in expert: with Redis they are served from the
# cache and written through to the database.
SESSION_ENGINE = f"django.contrib.sessions.backends.{'cached_db' if REDIS_URL else 'db'}"

# --- Internationalisation and time ----------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Browsers that once saw the site over HTTPS refuse plain HTTP to it for a year.
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 31_536_000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    # Plain HTTP answered with a redirect to HTTPS (off by default: usually the proxy does it);
    # /healthz stays reachable over HTTP for load balancers.
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Sent on every response when DEBUG is off (rlhf_platform/core/security_headers.py): scripts and
# styles from this origin only, nothing inline, no plugins, no framing, forms post here only.
CONTENT_SECURITY_POLICY = os.environ.get("CONTENT_SECURITY_POLICY") or (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# /api/docs/ (Swagger UI) sets inline styles; its script is a file like every other.
CONTENT_SECURITY_POLICY_API_DOCS = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)

# /healthz gives its details (each check) to staff sessions and to "Authorization: Bearer
# <HEALTH_TOKEN>"; everyone else gets ok / not ok only. Unset: no token works.
HEALTH_TOKEN = os.environ.get("HEALTH_TOKEN", "")
# The verdict anyone gets is at most this many seconds old: per process the checks run at most
# once in that time, however many probes arrive (0: a probe runs them unless another is).
HEALTH_CACHE_SECONDS = float(os.environ.get("HEALTH_CACHE_SECONDS", "5"))

# --- REST -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rlhf_platform.accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        # DRF's, refusing text the database cannot hold (NUL, lone surrogates) with a 400.
        "rlhf_platform.core.parsers.JSONParser",
        "rlhf_platform.core.parsers.MultiPartParser",
        "rlhf_platform.core.parsers.FormParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PAGINATION_CLASS": "rlhf_platform.core.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_RATES": {"api_key": os.environ.get("API_KEY_RATE", "6000/min")},
    "DEFAULT_SCHEMA_CLASS": "rlhf_platform.core.openapi.PlatformAutoSchema",
    "EXCEPTION_HANDLER": "rlhf_platform.core.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "RLHF expert-feedback platform API",
    "DESCRIPTION": (
        "Labs authenticate with `Authorization: Bearer <api key>`; experts and staff with a "
        "browser session. Every error has the shape "
        '`{"errors": [{"field": ..., "code": ..., "message": ...}]}`.'
    ),
    "VERSION": "1.0.0",
    # OpenAPI 3.1: its top-level ``webhooks`` document the deliveries (webhooks/openapi.py).
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the drf-spectacular-sidecar package: no CDN at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every operation documents its 4xx answers in the one error shape (core/openapi_errors.py)
    # and has an example of its successful answer (core/openapi_examples.py) and of its request
    # body (core/openapi_request_examples.py); the upload's records are components built from
    # the ingest's own definition (annotate/openapi.py); the answers views build as
    # dictionaries, and free JSON fields, are typed components (core/openapi_bodies.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "rlhf_platform.core.openapi_errors.document_error_responses",
        "annotate.openapi.add_batch_record_components",
        "annotate.openapi.type_label_schemas_and_items",
        "rlhf_platform.core.openapi_bodies.type_free_form_bodies",
        "annotate.openapi.add_export_row_components",
        "rlhf_platform.webhooks.openapi.document_webhook_payloads",
        "rlhf_platform.core.openapi_examples.add_response_examples",
        "rlhf_platform.core.openapi_request_examples.add_request_examples",
        "rlhf_platform.core.openapi.to_openapi_31",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
