"""The duties of the sharing policies that apply: the attribution a user owes for a product.

A permit's ``duties.attribution`` is owed by whoever it let license or download the product. The
gateway sends it with every download as the ``SDX-Attribution`` header, and the licence view lists
it (``attribution``) besides the licence template's own. In a header each text is an RFC 8187
``ext-value`` (``UTF-8''`` and the text percent-encoded), so that any text — non-ASCII, commas,
line breaks — passes as plain ASCII; several are separated by ", ".
"""
from __future__ import annotations

from urllib.parse import quote

from auth.models import Organisation
from exchange.core.db import db
from exchange.policy import Identity
from exchange.sharing import evaluation

HEADER = "SDX-Attribution"
#: RFC 8187 attr-char besides letters and digits: what an ext-value leaves unencoded.
_ATTR_CHARS = "!#$&+-.^_`|~"


def attributions(identity: Identity, item) -> list[str]:
    """The attribution texts of the permits that apply to the caller's download and licence of
    ``item``, each once, in that order."""
    found: list[str] = []
    for use in ("download", "license"):
        for text in evaluation.evaluate(identity, use, item).attributions:
            if text not in found:
                found.append(text)
    return found


def licensee_attributions(entitlement, item) -> list[str]:
    """What the licensee organisation of ``entitlement`` owes for ``item``, whoever reads the licence."""
    return attributions(evaluation.member_of(db.session.get(Organisation, entitlement.org_id)), item)


def encoded(text: str) -> str:
    """One attribution as an RFC 8187 ext-value: ``UTF-8''`` then the UTF-8 bytes percent-encoded."""
    return "UTF-8''" + quote(text, safe=_ATTR_CHARS)


def header(identity: Identity, item) -> dict[str, str]:
    """The ``SDX-Attribution`` header of a download of ``item`` by the caller (none owed: no header)."""
    texts = attributions(identity, item)
    return {HEADER: ", ".join(encoded(text) for text in texts)} if texts else {}
