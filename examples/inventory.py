"""A small inventory module: the demo file for `make run` completes the last line."""

from dataclasses import dataclass


@dataclass
class Item:
    name: str
    price: float
    quantity: int


def total_value(items: list[Item]) -> float:
    """The value of all items in stock."""
    return sum(item.price * item.quantity for item in items)


def cheapest(items: list[Item]) -> Item:
    """The item with the lowest price."""
    return min(items, key=lambda item: item.price)


def is_in_stock(item: Item) -> bool:
    """True if at least one of the item is left."""
    return
