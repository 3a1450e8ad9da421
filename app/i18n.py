"""Translations: every label comes from app/i18n/<lang>.yaml (English is the fallback)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import streamlit as st
import yaml

LANGS = {"en": "English", "nl": "Nederlands", "fr": "Français"}
FOLDER = Path(__file__).with_name("i18n")


@cache
def catalog(lang: str) -> dict[str, str]:
    return yaml.safe_load((FOLDER / f"{lang}.yaml").read_text(encoding="utf-8")) or {}


def lang() -> str:
    value = st.session_state.get("lang") or st.query_params.get("lang") or "en"
    return value if value in LANGS else "en"


def t(key: str, **kwargs: object) -> str:
    text = catalog(lang()).get(key) or catalog("en").get(key) or key
    return text.format(**kwargs) if kwargs else text


def status(value: object) -> str:
    """A translated status word (delivery or progress status)."""
    if not isinstance(value, str) or not value:
        return t("status.none")
    return t("status." + value.replace(" ", "_"))
