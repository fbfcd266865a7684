"""Typed errors: "we could not evaluate this input" (as opposed to findings about the artwork).

Each error has a stable ``code`` (kebab case, part of the public contract), a sentence a person
can act on, and the HTTP status the API maps it to. The CLI maps every one of them to exit 2.
"""

from __future__ import annotations

__all__ = [
    "CorruptImage",
    "DeadlineExceeded",
    "FileTooLarge",
    "ImageTooLarge",
    "InvalidPlacement",
    "InvalidProfile",
    "InvalidTemplate",
    "PreflightError",
    "UnknownProfile",
    "UnknownSku",
    "UnknownTemplate",
    "UnsupportedColorMode",
    "UnsupportedFormat",
]


class PreflightError(Exception):
    """Base of every error the library raises on purpose."""

    code: str = "preflight-error"
    http_status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class UnsupportedFormat(PreflightError):
    code = "unsupported-format"
    http_status = 415


class UnsupportedColorMode(PreflightError):
    code = "unsupported-color-mode"
    http_status = 415


class CorruptImage(PreflightError):
    code = "corrupt-image"
    http_status = 422


class ImageTooLarge(PreflightError):
    code = "image-too-large"
    http_status = 413


class FileTooLarge(PreflightError):
    code = "file-too-large"
    http_status = 413


class UnknownTemplate(PreflightError):
    code = "unknown-template"
    http_status = 404


class UnknownSku(PreflightError):
    code = "unknown-sku"
    http_status = 404


class InvalidTemplate(PreflightError):
    """A template file in the catalog is malformed (an operator's mistake, not a partner's)."""

    code = "invalid-template"
    http_status = 500


class InvalidPlacement(PreflightError):
    code = "invalid-placement"
    http_status = 422


class UnknownProfile(PreflightError):
    code = "unknown-profile"
    http_status = 404


class InvalidProfile(PreflightError):
    code = "invalid-profile"
    http_status = 422


class DeadlineExceeded(PreflightError):
    code = "deadline-exceeded"
    http_status = 503
