"""Tallyhop's help-desk answerer: ``from helpdesk import answer``."""

from helpdesk.answerer import answer, stats

__all__ = ["answer", "stats"]
