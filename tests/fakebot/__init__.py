"""A local fake Telegram Bot API server for end-to-end tests (see :mod:`tests.fakebot.server`)."""

from tests.fakebot.server import (
    MAX_DOWNLOAD_SIZE,
    ApiError,
    FakeBotApi,
    FakeUser,
    RateLimits,
    SentMessage,
    StoredFile,
    UploadedFile,
)

__all__ = [
    "MAX_DOWNLOAD_SIZE",
    "ApiError",
    "FakeBotApi",
    "FakeUser",
    "RateLimits",
    "SentMessage",
    "StoredFile",
    "UploadedFile",
]
