"""A Python client for the RLHF platform's lab API (sync and async, over httpx)."""

from rlhf_client._async import AsyncBatch, AsyncClient
from rlhf_client._sync import Batch, Client
from rlhf_client.errors import (
    ApiError,
    AuthenticationError,
    BadRequest,
    BatchFailed,
    Conflict,
    ErrorDetail,
    IdempotencyKeyReused,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    RlhfError,
    ServerError,
    UnsupportedMediaType,
    UploadRejected,
    WaitTimeout,
)
from rlhf_client.models import BatchState, CancelResult, DryRunReport, Item, Lab, Project, UploadProgress
from rlhf_client.webhooks import InvalidSignature, parse_delivery, verify_signature

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "AsyncBatch",
    "AsyncClient",
    "AuthenticationError",
    "BadRequest",
    "Batch",
    "BatchFailed",
    "BatchState",
    "CancelResult",
    "Client",
    "Conflict",
    "DryRunReport",
    "ErrorDetail",
    "IdempotencyKeyReused",
    "InvalidSignature",
    "Item",
    "Lab",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "Project",
    "RateLimited",
    "RlhfError",
    "ServerError",
    "UnsupportedMediaType",
    "UploadProgress",
    "UploadRejected",
    "WaitTimeout",
    "parse_delivery",
    "verify_signature",
]
