"""Domain errors of the inventory; the API layer maps them to Tencent error codes.

InventoryError
├── InvalidFilterError    a filter name/value, sort field or order the inventory rejects
├── InvalidInputError     a value of a report or command that cannot be stored
├── NotFoundError         an image/host/key that does not exist for this account
└── StoreUnavailableError the database could not be reached
"""

from __future__ import annotations

__all__ = [
    "AlreadyScanningError",
    "InvalidFilterError",
    "InvalidInputError",
    "InventoryError",
    "NotFoundError",
    "StoreUnavailableError",
]


class InventoryError(Exception):
    pass


class InvalidFilterError(InventoryError):
    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(f"{parameter}: {detail}")
        self.parameter = parameter
        self.detail = detail


class InvalidInputError(InvalidFilterError):
    pass


class NotFoundError(InventoryError):
    pass


class StoreUnavailableError(InventoryError):
    pass


class AlreadyScanningError(InventoryError):
    """A scan task of this account is still running (FailedOperation.ErrAlreadyScanning)."""
