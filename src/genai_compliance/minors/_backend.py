"""Moved: the subject keys live in :mod:`._keys`; the state lives in the stores
(:meth:`genai_compliance.stores.Store.update`, Redis scripts). This name stays only for
``tests/test_ledger_keys.py``, which imports ``subject_store_key`` from here."""

from ._keys import SubjectKeyer, subject_store_key

__all__ = ["SubjectKeyer", "subject_store_key"]
