"""The request bodies of the inventory app, and how a stored product is shown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, model_validator

SKU_PATTERN = r"^[A-Z0-9][A-Z0-9-]{0,31}$"
Sku = Annotated[str, StringConstraints(pattern=SKU_PATTERN)]
Cents = Annotated[int, Field(ge=0, le=100_000_000)]
Units = Annotated[int, Field(ge=0, le=1_000_000)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class NewProduct(BaseModel):
    """A product to add: a unique SKU (``TEA-01``), a name, a price in cents, units in stock."""

    sku: Sku
    name: Text
    price_cents: Cents
    stock: Units


class ProductChange(BaseModel):
    """The fields of a product to change; at least one."""

    name: Text | None = None
    price_cents: Cents | None = None
    stock: Units | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> ProductChange:
        if not self.changes():
            raise ValueError("give at least one of name, price_cents, stock")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields to ``$set``."""
        return self.model_dump(exclude_none=True)


class NewSupplier(BaseModel):
    """A supplier and its cost prices: private to the inventory (not a shared collection)."""

    name: Text
    contact: Text
    cost_cents: dict[Sku, Cents] = Field(default={}, description="cost per SKU, in cents")


def product_out(document: Mapping[str, Any]) -> dict[str, Any]:
    """A stored product as the API shows it."""
    return {key: document[key] for key in ("sku", "name", "price_cents", "stock")}


def supplier_out(document: Mapping[str, Any]) -> dict[str, Any]:
    """A stored supplier as the API shows it."""
    fields = ("name", "contact", "cost_cents")
    return {"id": str(document["_id"]), **{key: document[key] for key in fields}}
