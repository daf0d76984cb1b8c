"""Tallyhop's help-desk answerer, hardened: ``from helpdesk import answer``."""

from helpdesk.service import answer

__all__ = ["answer"]
