"""The store: SQLAlchemy tables, the engine, and the migrations that create them."""

from .engine import Store, default_store_url

__all__ = ["Store", "default_store_url"]
