"""Executor settings: the parameter file's ``executors.<name>`` table with CLI overrides."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from py2rely_core.errors import InputError


def parse_setting_overrides(items: Iterable[str], option: str = "--executor-setting") -> dict[str, Any]:
    """``["partition=gpu", "gpus=2"]`` -> ``{"partition": "gpu", "gpus": 2}``.

    Values are read as JSON when they parse (numbers, true/false, lists), else kept as text, so
    ``time=02:00:00`` stays a string and ``retries=2`` becomes a number.
    """
    settings: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(option, f"{item!r} is not KEY=VALUE", "e.g. cpu_partition=debug")
        try:
            settings[key.strip()] = json.loads(value)
        except ValueError:
            settings[key.strip()] = value
    return settings


def executor_settings(configured: Mapping[str, Mapping[str, Any]], name: str,
                      overrides: Mapping[str, Any]) -> dict[str, Any]:
    return {**dict(configured.get(name, {})), **dict(overrides)}
