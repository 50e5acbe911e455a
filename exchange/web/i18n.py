"""Languages of the pages (English and Simplified Chinese), and how money and dates are shown.

The language is the ``?lang=`` of the request (remembered in the session), else the session's, else
the browser's ``Accept-Language``. Catalogues live in ``translations/<area>/zh_Hans_CN/LC_MESSAGES`` (Babel's name for zh-CN), one
area per group of pages, merged by Flask-Babel; the compiled ``.mo`` files are committed beside their
``.po`` (``make translations`` compiles them, and a test checks they agree).
Money is shown from minor units with the currency's own digits; dates and times in ISO 8601.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

from babel.numbers import format_currency, get_currency_precision
from flask import request, session
from flask_babel import Babel, get_locale

TRANSLATIONS = Path(__file__).parent / "translations"
#: Language codes as the switch and ``?lang=`` spell them → Babel's locale names.
LANGUAGES = {"en": "en", "zh-CN": "zh_CN"}
LANGUAGE_NAMES = {"en": "English", "zh-CN": "简体中文"}


def select_locale() -> str:
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
        return LANGUAGES[asked]
    if session.get("lang") in LANGUAGES:
        return LANGUAGES[session["lang"]]
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"])
    return "zh_CN" if best and best.startswith("zh") else "en"


def current_language() -> str:
    """The current language as ``?lang=`` spells it (for ``<html lang>`` and the switch)."""
    return "zh-CN" if get_locale().language == "zh" else "en"


def language_url(code: str, *, home: bool = False) -> str:
    """This page in another language: the same path and query, with ``lang`` replaced (the home page
    for an error page, whose path may name what the visitor may not see)."""
    if home:
        return f"/?lang={code}"
    args = request.args.to_dict(flat=False)
    args["lang"] = [code]
    return f"{request.path}?{urlencode(args, doseq=True)}"


def money(minor: int | None, currency: str | None) -> str:
    """``12345, "EUR"`` → ``€123.45`` (in English) / ``€123.45`` (in Chinese), per the currency's digits."""
    if minor is None or not currency:
        return ""
    digits = get_currency_precision(currency)
    return format_currency(Decimal(int(minor)).scaleb(-digits), currency, locale=str(get_locale()))


def isodate(value: datetime | date | str | None) -> str:
    """ISO 8601: a date as ``2026-11-27``; a time as ``2026-11-27T08:30:00Z`` (UTC, to the second)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="seconds") + "Z"
    return value.isoformat()


def init_app(app) -> None:
    areas = sorted(str(path) for path in TRANSLATIONS.iterdir() if path.is_dir()) if TRANSLATIONS.is_dir() else []
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", ";".join(areas) or str(TRANSLATIONS))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    Babel(app, locale_selector=select_locale)
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["isodate"] = isodate
    app.jinja_env.globals.update(current_language=current_language, language_url=language_url,
                                 LANGUAGE_NAMES=LANGUAGE_NAMES)
