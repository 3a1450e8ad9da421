"""Configuration mistakes reported in the words of the person who made them."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError


class ConfigError(ValueError):
    """A city configuration file is wrong: names the file, the key and what is allowed."""

    def __init__(self, file: Path, problems: list[str]):
        self.file = file
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{file}: {len(problems)} problem(s) in the configuration:\n{lines}")


def from_validation_error(file: Path, error: ValidationError) -> ConfigError:
    """Turn pydantic's error list into ``key: message`` lines a non-programmer can act on."""
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key; check its spelling against docs/configuration.md"
        elif item["type"] == "literal_error":
            message = f"{message} (got {item.get('input')!r})"
        problems.append(f"{key}: {message}")
    return ConfigError(file, problems)
