"""Structure selectors: the local-environment bank and the methods it is compared with."""

from atomsieve.selectors.base import SelectionResult, Selector, resolve_count

__all__ = ["SelectionResult", "Selector", "resolve_count"]
