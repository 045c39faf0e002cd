"""What the built-in uploaders share: their settings for one delivery, checked."""

from __future__ import annotations

import re
from typing import Any

from billingd.plugins import PermanentFailure


def merged_settings(name: str, own: dict[str, Any], delivery: dict[str, Any]) -> dict[str, Any]:
    """An uploader's settings for one delivery: the plugin's, then the bill group's
    ``<name>_*`` custom fields (prefix removed), then its uploader settings."""
    merged = dict(own)
    prefix = f"{name}_"
    for key, value in (delivery.get("custom_fields") or {}).items():
        if key.startswith(prefix) and len(key) > len(prefix):
            merged[key[len(prefix) :]] = value
    merged.update(delivery.get("settings") or {})
    return merged


def safe_name(text: str) -> str:
    """A file name part from an invoice number, safe on any file system."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "invoice"


class Settings:
    """One delivery's settings, read with the checks a configuration error deserves:
    a missing or wrong value is a :class:`PermanentFailure` naming the setting."""

    def __init__(self, uploader: str, values: dict[str, Any]) -> None:
        self.uploader = uploader
        self.values = values

    def _fail(self, key: str, problem: str) -> PermanentFailure:
        return PermanentFailure(
            f"{self.uploader} uploader: setting {key!r} {problem} (set it in "
            f"plugins.settings.uploaders.{self.uploader}.{key} or as the bill group's "
            f"custom field {self.uploader}_{key})"
        )

    def str(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.values.get(key, default)
        if value is None or value == "":
            if required:
                raise self._fail(key, "is required")
            return default
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise self._fail(key, f"must be text, not {value!r}")
        return str(value)

    def required(self, key: str) -> str:
        value = self.str(key, required=True)
        assert value is not None
        return value

    def number(self, key: str, default: float) -> float:
        value = self.values.get(key, default)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self._fail(key, f"must be a number, not {value!r}") from None
        if number <= 0:
            raise self._fail(key, f"must be positive, not {value!r}")
        return number

    def flag(self, key: str, default: bool) -> bool:
        value = self.values.get(key, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise self._fail(key, f"must be true or false, not {value!r}")


class BaseUploader:
    """An uploader whose plugin settings :func:`~billingd_plugins.uploaders.startup` sets."""

    name = ""
    settings_keys: tuple[str, ...] = ()
    """The settings it reads; the plugin's settings may hold no others."""

    def __init__(self) -> None:
        self.plugin_settings: dict[str, Any] = {}

    def settings(self, delivery: dict[str, Any]) -> Settings:
        return Settings(self.name, merged_settings(self.name, self.plugin_settings, delivery))

    def upload(self, delivery: dict[str, Any]) -> dict[str, Any] | None:
        raise NotImplementedError


def file_name(delivery: dict[str, Any], document: dict[str, Any]) -> str:
    """The document's file name, the same on every retry of a delivery."""
    name = document.get("filename") or ""
    if not name or "/" in name or name.startswith("."):
        number = safe_name(str(delivery["invoice"].get("number") or delivery["invoice"]["id"]))
        name = f"{number}.{safe_name(str(document['format']))}"
    return name
