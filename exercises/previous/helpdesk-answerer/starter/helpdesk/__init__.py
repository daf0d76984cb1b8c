"""Tallyhop's help-desk answerer: ``from helpdesk import answer``."""

from helpdesk.answerer import answer

__all__ = ["answer"]
