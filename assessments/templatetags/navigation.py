"""``{{ request.resolver_match|nav_tab }}``: the tab of the staff navigation a page belongs to.

A page's tab is the namespace of its URL, so a new page in a section is marked without touching
the template. Two namespaces hold pages of two tabs (the dashboard sits in ``assessments``; a
reviewer's own queue and review pages sit in ``rubrics`` beside the managers' pages): those URL
names are listed on their own.
"""

from django import template

register = template.Library()

TAB_OF_NAMESPACE = {"assessments": "assessments", "reports": "reports", "rubrics": "reviews"}
TAB_OF_VIEW = {
    "assessments:dashboard": "dashboard",
    "rubrics:queue": "my_reviews",
    "rubrics:review": "my_reviews",
    # A manager's webhook endpoints live beside the reports that record decisions, in their own tab.
    "reports:webhooks": "webhooks",
    "reports:webhook": "webhooks",
    "reports:webhook_secret": "webhooks",
}


@register.filter
def nav_tab(match) -> str:
    """The tab's key for a ResolverMatch, or "" for a page of no tab (the login page, a URL that did not resolve)."""
    if match is None:
        return ""
    return TAB_OF_VIEW.get(match.view_name) or TAB_OF_NAMESPACE.get(match.namespace, "")
