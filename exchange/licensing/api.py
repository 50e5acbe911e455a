"""The licensing API (thin: parse, call the licensing services, serialise).

Licence templates are public to read; writing one needs an administrator with ``admin:policies``.
Offers are read by anyone who may read what they are on and written by providers with
``catalog:write``; licences (entitlements) are read with ``licenses:read``.
"""
from __future__ import annotations

from flask_smorest import Blueprint

from auth.schemas import PageArgsSchema
from auth.tokens import current_identity, require_scopes
from exchange.core.body import json_object
from exchange.core.location import LOCATION_HEADER, location
from exchange.licensing import entitlements, offers, templates
from exchange.licensing.schemas import (EntitlementArgsSchema, EntitlementPageSchema, EntitlementSchema,
                                        OfferArgsSchema, OfferInSchema, OfferPageSchema, OfferPatchSchema, OfferSchema,
                                        TemplateCreatedSchema, TemplateInSchema, TemplatePageSchema, TemplateSchema,
                                        TemplateVersionsSchema)

blp = Blueprint("licensing", __name__, url_prefix="/api/v1",
                description="Licence templates, offers on products and collections, and the licences held")
PUBLIC = require_scopes("catalog:read", allow_anonymous=True)
SELL = require_scopes("catalog:write")


def _body(schema):
    return blp.doc(requestBody={"content": {"application/json": {"schema": schema}}})


# -- licence templates -----------------------------------------------------------------------------------
@blp.route("/licenses/templates", methods=["GET"])
@PUBLIC
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, TemplatePageSchema)
def list_templates(args):
    """The newest version of every licence template, by code (public)."""
    items, next_cursor = templates.list_latest(current_identity(), after=args["after"], limit=args["limit"])
    return {"items": items, "next": next_cursor}


@blp.route("/licenses/templates", methods=["POST"])
@require_scopes("admin:policies")
@_body(TemplateInSchema)
@blp.response(201, TemplateCreatedSchema, headers=LOCATION_HEADER)
def create_template():
    """Write a licence template: version 1 of a new code, or the next version of an existing one."""
    template = templates.create_template(current_identity(), json_object())
    return ({"code": template.code, "version": template.version},
            location("licensing.template_version", code=template.code, n=template.version))


@blp.route("/licenses/templates/<code>", methods=["GET"])
@PUBLIC
@blp.response(200, TemplateSchema)
def template(code: str):
    """The newest version of a licence template."""
    return templates.get_version(current_identity(), code)


@blp.route("/licenses/templates/<code>/versions", methods=["GET"])
@PUBLIC
@blp.response(200, TemplateVersionsSchema)
def template_versions(code: str):
    """Every version of a licence template, oldest first."""
    return {"items": templates.versions(current_identity(), code)}


@blp.route("/licenses/templates/<code>/versions/<int:n>", methods=["GET"])
@PUBLIC
@blp.response(200, TemplateSchema)
def template_version(code: str, n: int):
    """One version of a licence template (versions never change)."""
    return templates.get_version(current_identity(), code, n)


# -- offers ------------------------------------------------------------------------------------------------
@blp.route("/offers", methods=["POST"])
@SELL
@_body(OfferInSchema)
@blp.response(201, OfferSchema, headers=LOCATION_HEADER)
def create_offer():
    """Put a product or a collection on sale: a licence template version and a price."""
    offer = offers.create_offer(current_identity(), json_object())
    return offers.view(offer), location("licensing.offer", offer_id=offer.id)


@blp.route("/offers", methods=["GET"])
@PUBLIC
@blp.arguments(OfferArgsSchema, location="query")
@blp.response(200, OfferPageSchema)
def list_offers(args):
    """The offers the caller may see (on a collection or a product, if asked), a page at a time."""
    items, next_cursor = offers.list_offers(current_identity(), collection=args["collection"],
                                            product=args["product"], after=args["after"], limit=args["limit"])
    return {"items": items, "next": next_cursor}


@blp.route("/offers/<uuid:offer_id>", methods=["GET"])
@PUBLIC
@blp.response(200, OfferSchema)
def offer(offer_id):
    """One offer."""
    return offers.get_offer(current_identity(), offer_id)


@blp.route("/offers/<uuid:offer_id>", methods=["PATCH"])
@SELL
@_body(OfferPatchSchema)
@blp.response(200, OfferSchema)
def update_offer(offer_id):
    """Change an offer (a JSON merge patch); its revision goes up when what a buyer pays or accepts changes."""
    return offers.view(offers.update_offer(current_identity(), offer_id, json_object()))


@blp.route("/offers/<uuid:offer_id>", methods=["DELETE"])
@SELL
@blp.response(204)
def withdraw_offer(offer_id):
    """Withdraw an offer; licences already sold keep their terms."""
    offers.withdraw_offer(current_identity(), offer_id)


# -- licences held (entitlements) ------------------------------------------------------------------------
@blp.route("/licenses", methods=["GET"])
@require_scopes("licenses:read")
@blp.arguments(EntitlementArgsSchema, location="query")
@blp.response(200, EntitlementPageSchema)
def list_licenses(args):
    """Your organisation's licences with what is left of their allowances; a provider also sees the
    licences granted on its products, an admin all."""
    items, next_cursor = entitlements.list_entitlements(current_identity(), product=args["product"],
                                                        status=args["status"], after=args["after"],
                                                        limit=args["limit"])
    return {"items": items, "next": next_cursor}


@blp.route("/licenses/<uuid:license_id>", methods=["GET"])
@require_scopes("licenses:read")
@blp.response(200, EntitlementSchema)
def license_(license_id):
    """One licence."""
    return entitlements.get_entitlement(current_identity(), license_id)
