"""The hidden help-centre corpus for the helpdesk-answerer exercise: data tables and generator.

The grading corpus is the public starter corpus plus hand-written hidden articles
(``hidden/handwritten/``) plus templated families (integrations, error codes, tax rates,
currencies, reports) generated here. It is written to ``hidden/docs/`` and committed, so grading
never depends on running this script; ``tests/exercises`` checks the committed copy is current.

Regenerate with::

    .venv/bin/python exercises/helpdesk-answerer/hidden/corpus.py

Size is deliberate: stuffing every article into one prompt must cost more than ten times the
per-request token budget of the cost probes while still fitting the fake model's context window
(see ``probes.TOKEN_BUDGET``), so that stuffing fails the cost probes and nothing else.
"""

from __future__ import annotations

import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXERCISE_DIR = HERE.parent
PUBLIC_DOCS = EXERCISE_DIR / "starter" / "docs"
HANDWRITTEN = HERE / "handwritten"
DOCS = HERE / "docs"


@dataclass(frozen=True)
class Fact:
    """One answerable fact: the question, the article holding it, the sentence and the gist."""

    question: str
    doc_id: str
    sentence: str
    answer: str
    facts: tuple[str, ...]
    topic: str = ""


# --------------------------------------------------------------------------------------------
# Shared sections: realistic help-centre padding, sampled per article (no answerable facts here)
# --------------------------------------------------------------------------------------------

_BEFORE_YOU_START = [
    "Make sure you are signed in as an owner or admin; other roles can see integrations but cannot change them.",
    "Check that your company country and base currency are set, because imported records use them.",
    "Set up your tax rates first, so that imported records get the right tax from the start.",
    "Decide which income category imported records should use; you can change it per record later.",
    "If your accountant works in Tallyhop too, tell them before you connect, "
    "so that they can review the first imports.",
    "Turn on two-factor authentication for every account that can change integrations.",
    "Keep the browser window open until the connection page says Connected; closing it early cancels the approval.",
    "Pop-up blockers can stop the approval window from opening; allow pop-ups for Tallyhop while you connect.",
]

_INTEGRATION_FAQ = [
    (
        "Does the integration cost extra?",
        "No. Integrations built by Tallyhop are included in the plans that offer them.",
    ),
    (
        "Can I choose which records are imported?",
        "Yes. Filters on the integration page let you skip records by status, tag or amount.",
    ),
    (
        "Is my data shared with the other service?",
        "Only what the integration needs: invoice numbers, amounts, dates and customer names.",
    ),
    ("What happens if Tallyhop is down during a sync?", "The next sync picks up everything that was missed, in order."),
    ("Can I edit imported records?", "Yes, and your edits are kept: later syncs never overwrite a record you changed."),
    (
        "Who is notified when a connection breaks?",
        "The person who connected it and every owner, by email, once a day until it is fixed.",
    ),
    (
        "Can I import historical records?",
        "A one-off backfill imports up to twelve months of history from the integration page.",
    ),
    (
        "Does it work on the mobile app?",
        "Connections are managed on the web, but imported records appear in the mobile app too.",
    ),
    (
        "Can two workspaces share one connection?",
        "No. Each workspace needs its own connection, even for the same account.",
    ),
    (
        "Are deleted records removed from Tallyhop?",
        "No. Tallyhop keeps what it imported; delete records by hand if you need to.",
    ),
]

_ERROR_FAQ = [
    ("Is my data safe when this error appears?", "Yes. Errors stop the action before anything is saved or sent."),
    (
        "Why did the error appear only for me?",
        "Some errors depend on your role or on the device you use; a colleague may not see them.",
    ),
    (
        "Can support fix it for me?",
        "Support can explain the cause, but changes to your records must be made from your account.",
    ),
    (
        "Does the error affect my customers?",
        "Customers never see error codes; they only see invoices that were sent successfully.",
    ),
    ("Will the error come back?", "Not once the cause is fixed. If it does, note the time and contact support."),
    (
        "Where can I see past errors?",
        "The activity log lists the errors of the last 30 days with the page where they appeared.",
    ),
    ("Do error codes change between versions?", "No. A code always keeps its meaning; retired codes are never reused."),
    (
        "Can I get alerts for errors?",
        "Owners can turn on a daily email digest of errors under Settings > Notifications.",
    ),
]

_TAX_FAQ = [
    (
        "Can I change a tax rate on an invoice that was already sent?",
        "No. Create a credit note and send a corrected invoice.",
    ),
    (
        "How do I invoice a customer in another country?",
        "Set the customer's country; Tallyhop suggests the right treatment for their location.",
    ),
    (
        "Does Tallyhop validate tax numbers?",
        "Yes, where a public register exists, when you add the number to a customer.",
    ),
    (
        "Can I show prices including tax?",
        "Yes. Choose tax-inclusive prices under Settings > Taxes; totals are recalculated for you.",
    ),
    (
        "What if I am below the registration threshold?",
        "Turn tax off; invoices then carry the note that no tax is charged.",
    ),
    (
        "Can my accountant change the tax settings?",
        "Accountants can view tax settings; only owners and admins can change them.",
    ),
    (
        "How are credit notes handled in the tax report?",
        "They reduce the tax of the period in which the credit note is issued.",
    ),
    ("Are expenses included?", "Yes. The tax on expenses is reported separately, so that you can reclaim it."),
]

_CURRENCY_FAQ = [
    (
        "Can I invoice one customer in two currencies?",
        "Each customer has one currency; create a second customer record for the other currency.",
    ),
    (
        "Which exchange rate is printed on the invoice?",
        "None by default. You can show the rate and the converted total under Settings > Invoices.",
    ),
    (
        "What if the payment arrives short because of bank fees?",
        "Record the difference as a bank charge so that the invoice is marked as paid.",
    ),
    ("Can I change my base currency?", "No. The base currency is fixed when the workspace is created."),
    (
        "Are reports available in other currencies?",
        "Reports use the base currency, but every export includes the original amounts.",
    ),
    (
        "Do card payments convert the currency?",
        "The customer pays in the invoice currency; conversion happens before the payout "
        "if your account uses another currency.",
    ),
    (
        "Can estimates use another currency?",
        "Yes. Estimates, invoices and credit notes all follow the customer's currency.",
    ),
]

_REPORT_FAQ = [
    (
        "Why do my figures differ from my bank balance?",
        "Unmatched bank transactions are not in reports until you match or categorise them.",
    ),
    ("Can I schedule a report?", "Yes. Saved reports can be emailed daily, weekly or monthly to anyone on your team."),
    ("Can I add my logo to exported reports?", "Yes. PDF exports use the logo and colours from your invoice template."),
    ("How far back can I run reports?", "To the first record in your workspace, including imported history."),
    ("Can viewers see reports?", "Viewers can open reports but cannot export or schedule them."),
    ("Are draft invoices included?", "No. Reports only include invoices that have been sent."),
]


def _faq(pool, rng: random.Random, count: int) -> str:
    items = rng.sample(pool, count)
    return "\n\n".join(f"**{q}**\n{a}" for q, a in items)


# --------------------------------------------------------------------------------------------
# Integrations
# --------------------------------------------------------------------------------------------

INTEGRATIONS = [
    # name, slug, kind, interval (minutes)
    ("Shopify", "shopify", "commerce", 15),
    ("WooCommerce", "woocommerce", "commerce", 30),
    ("Etsy", "etsy", "commerce", 60),
    ("BigCommerce", "bigcommerce", "commerce", 20),
    ("Squarespace", "squarespace", "commerce", 45),
    ("Wix", "wix", "commerce", 25),
    ("Stripe", "stripe", "payments", 10),
    ("PayPal", "paypal", "payments", 20),
    ("Square", "square", "payments", 35),
    ("GoCardless", "gocardless", "payments", 50),
    ("Adyen", "adyen", "payments", 40),
    ("Mollie", "mollie", "payments", 55),
    ("Slack", "slack", "chat", 2),
    ("Microsoft Teams", "microsoft-teams", "chat", 3),
    ("Google Chat", "google-chat", "chat", 4),
    ("HubSpot", "hubspot", "crm", 30),
    ("Salesforce", "salesforce", "crm", 15),
    ("Pipedrive", "pipedrive", "crm", 20),
    ("Zoho CRM", "zoho-crm", "crm", 45),
    ("Google Drive", "google-drive", "storage", 5),
    ("Dropbox", "dropbox", "storage", 10),
    ("OneDrive", "onedrive", "storage", 8),
    ("Zapier", "zapier", "automation", 2),
    ("Make", "make", "automation", 6),
]

_KIND = {
    "commerce": {
        "what": "orders",
        "intro": "Connect your {name} store so that every order becomes a paid invoice in Tallyhop, with "
        "the right customer, line items, shipping and tax.",
        "sentence": "Tallyhop imports new {name} orders every {n} minutes.",
        "question": "How often does Tallyhop import orders from {name}?",
        "details": "Refunds issued in {name} are imported as credit notes, and shipping charges become a "
        "separate line on each invoice. Orders placed before you connected the store are not imported "
        "unless you run a one-off backfill from the integration page.",
    },
    "payments": {
        "what": "payouts",
        "intro": "Connect {name} so that the payments your customers make through {name} are matched to "
        "your Tallyhop invoices and the processing fees are recorded as expenses.",
        "sentence": "Tallyhop imports your {name} payouts and fees every {n} minutes.",
        "question": "How often are {name} payouts imported into Tallyhop?",
        "details": "Each payout is split into the payments it contains, so that your bank feed shows one "
        "deposit while your ledger shows every invoice it paid. Currency conversion fees charged by {name} "
        "are booked to the Bank charges category.",
    },
    "chat": {
        "what": "notifications",
        "intro": "Connect {name} so that your team hears about paid invoices, overdue invoices and accepted "
        "estimates without opening Tallyhop.",
        "sentence": "Tallyhop posts a message to your {name} channel within {n} minutes of an invoice being paid.",
        "question": "How quickly does Tallyhop post to {name} when an invoice is paid?",
        "details": "You choose one channel per event type, and each message links to the invoice. Messages "
        "never include your customer's payment details, only the invoice number, customer name and amount.",
    },
    "crm": {
        "what": "deals",
        "intro": "Connect {name} so that deals your sales team wins turn into invoices without retyping "
        "customer details or prices.",
        "sentence": "Tallyhop copies won {name} deals into draft invoices every {n} minutes.",
        "question": "How often are won deals from {name} copied into Tallyhop?",
        "details": "Products on the deal become line items and the deal owner is recorded on the invoice. "
        "Drafts are never sent automatically: someone on your team reviews and sends each one, and the "
        "invoice status is written back to the deal in {name}.",
    },
    "storage": {
        "what": "documents",
        "intro": "Connect {name} so that a copy of every invoice, credit note and receipt lands in a folder "
        "your accountant can already reach.",
        "sentence": "Tallyhop saves a PDF copy of each sent invoice to {name} within {n} minutes.",
        "question": "How long does it take for a sent invoice to appear in {name}?",
        "details": "Files are organised by year and month, and named with the invoice number and customer. "
        "Deleting a file in {name} does not change anything in Tallyhop, and editing an invoice saves a new "
        "version of the PDF next to the old one.",
    },
    "automation": {
        "what": "events",
        "intro": "Connect {name} to build your own automations on Tallyhop events, such as adding paid "
        "customers to a mailing list or creating a task when an invoice becomes overdue.",
        "sentence": "Tallyhop sends new events to {name} within {n} minutes.",
        "question": "How quickly does Tallyhop send events to {name}?",
        "details": "Every event type available in webhooks is also available in {name}. Actions can create "
        "customers, draft invoices and record payments, but cannot send invoices or change billing settings.",
    },
}

_INTEGRATION_TROUBLE = [
    "If nothing arrives after an hour, open Settings > Integrations > {name} and press Test connection.",
    "A connection made by a team member who later left the workspace stops working; reconnect it from an "
    "owner or admin account.",
    "If {name} asks you to sign in again, your authorisation has expired; reconnecting keeps all "
    "previously imported records.",
    "Check the integration log on the same page: each failed sync shows the error returned by {name}.",
    "Duplicate records usually mean the same {name} account is connected twice; remove one connection.",
    "Records that fail to import because of a missing tax rate are listed on the integration page so that "
    "you can fix the rate and retry them.",
]


def _integration_article(name: str, slug: str, kind: str, minutes: int, rng: random.Random) -> tuple[str, Fact]:
    spec = _KIND[kind]
    fmt = {"name": name, "n": minutes}
    sentence = spec["sentence"].format(**fmt)
    trouble = rng.sample(_INTEGRATION_TROUBLE, 4)
    plans = rng.choice(["all plans", "the Growth and Scale plans", "every paid plan"])
    text = (
        f"""# Connect {name}

{spec["intro"].format(**fmt)}

The {name} integration is available on {plans}. It is built and supported by Tallyhop, and it uses
{name}'s official API, so you never share your {name} password with us.

## Before you start

"""
        + "\n".join(f"- {line}" for line in rng.sample(_BEFORE_YOU_START, 3))
        + f"""

## Connect your account

1. Go to Settings > Integrations and find {name} in the list.
2. Press Connect. A {name} window opens and asks you to approve access for Tallyhop.
3. Choose which {spec["what"]} Tallyhop may read, then confirm.
4. Back in Tallyhop, pick the default tax rate and income category for imported records.

You can connect more than one {name} account to the same workspace, for example one per brand. Each
connection has its own settings and its own log.

## What is copied where

| In {name} | In Tallyhop |
| --- | --- |
| Customer or contact name | Customer |
| Email address | Customer email, used for invoice emails |
| Line items and quantities | Invoice lines |
| Tax charged | Tax on each line, using your Tallyhop tax rates |
| Currency | Invoice currency |
| Reference or order number | Invoice reference, shown under the invoice number |

Fields that have no place in Tallyhop are kept in the record's notes, so nothing is lost. Custom
fields can be mapped to tracking tags from the integration settings.

## How syncing works

{sentence} {spec["details"].format(**fmt)}

You can press Sync now on the integration page to check for new {spec["what"]} right away. A manual
sync does not change the regular schedule.

## Disconnect {name}

Press Disconnect on the integration page. Records already imported stay in Tallyhop, and nothing is
deleted in {name}. If you connect the same account again later, Tallyhop recognises the records it
has already imported and does not create them twice.

## Troubleshooting

"""
        + "\n".join(f"- {line.format(**fmt)}" for line in trouble)
        + f"""

If the problem continues, contact support from Help > Contact us and mention the name of the {name}
connection; the support team can read the integration log but cannot see your {name} data.

## Frequently asked questions

{_faq(_INTEGRATION_FAQ, rng, 5)}
"""
    )
    fact = Fact(
        question=spec["question"].format(**fmt),
        doc_id=f"integration-{slug}",
        sentence=sentence,
        answer=sentence,
        facts=(f"{minutes} minutes",),
        topic="integration",
    )
    return text, fact


# --------------------------------------------------------------------------------------------
# Error codes
# --------------------------------------------------------------------------------------------

ERRORS = [
    # code, title, meaning (completes "Error TH-xxxx means that ..."), fact word, fix
    (1001, "Session expired", "your sign-in session has expired", "session", "Sign in again."),
    (
        1002,
        "Invoice already paid",
        "the invoice you tried to edit has already been paid in full",
        "paid",
        "Create a credit note instead of editing the invoice.",
    ),
    (
        1003,
        "Duplicate invoice number",
        "another invoice already uses the invoice number you entered",
        "number",
        "Pick the next free number or let Tallyhop choose it.",
    ),
    (
        1004,
        "Customer email missing",
        "the customer has no email address to send the invoice to",
        "email",
        "Add an email address on the customer page.",
    ),
    (
        1005,
        "Attachment too large",
        "an attachment is larger than the 15 megabyte limit",
        "15 megabyte",
        "Compress the file or share a link to it instead.",
    ),
    (
        1006,
        "Tax rate missing",
        "a line item has no tax rate and your country requires one",
        "tax rate",
        "Pick a tax rate for every line, or mark the line as exempt.",
    ),
    (
        1007,
        "Currency locked",
        "the invoice currency cannot change after the invoice has been sent",
        "currency",
        "Cancel the invoice with a credit note and create a new one.",
    ),
    (
        1008,
        "Card declined",
        "your customer's bank declined the card payment",
        "declined",
        "Ask the customer to use another card or to contact their bank.",
    ),
    (
        1009,
        "Payout account unverified",
        "your payout bank account has not been verified yet",
        "verified",
        "Finish the verification steps under Settings > Payments.",
    ),
    (
        1010,
        "Recurring schedule ended",
        "the recurring schedule reached its end date",
        "end date",
        "Extend the schedule or create a new one.",
    ),
    (
        1011,
        "Logo format unsupported",
        "the logo file is not a PNG or JPG image",
        "PNG",
        "Export the logo as PNG or JPG and upload it again.",
    ),
    (
        1012,
        "Too many reminders",
        "a customer would receive more than one reminder on the same day",
        "reminder",
        "Change the reminder schedule so that reminders fall on different days.",
    ),
    (
        1013,
        "Estimate expired",
        "the estimate passed its expiry date before the customer accepted it",
        "expiry",
        "Extend the estimate and send it again.",
    ),
    (
        1014,
        "Import file unreadable",
        "the CSV file could not be read because it is not UTF-8 encoded",
        "UTF-8",
        "Save the file as CSV UTF-8 and import it again.",
    ),
    (
        1015,
        "Import column missing",
        "the import file has no column for a required field",
        "column",
        "Download the import template and match its column names.",
    ),
    (
        1016,
        "Bank connection expired",
        "the consent for your bank connection has expired",
        "consent",
        "Renew the connection from the banking page.",
    ),
    (
        1017,
        "Bank not supported",
        "your bank does not offer a connection Tallyhop can use",
        "not supported",
        "Import statements as CSV files instead.",
    ),
    (
        1018,
        "Transaction already matched",
        "the bank transaction is already matched to another record",
        "matched",
        "Unmatch it first, then match it to the right invoice.",
    ),
    (
        1019,
        "Period locked",
        "the accounting period is locked by your accountant",
        "locked",
        "Ask your accountant to unlock the period or date the record in an open period.",
    ),
    (
        1020,
        "Role not allowed",
        "your role does not allow this action",
        "role",
        "Ask an owner or admin to change your role or to do it for you.",
    ),
    (
        1021,
        "Seat limit reached",
        "your plan has no free user seats left",
        "seat",
        "Remove an inactive user or add seats under Settings > Billing.",
    ),
    (
        1022,
        "Plan feature missing",
        "the feature is not included in your current plan",
        "plan",
        "Upgrade your plan to use the feature.",
    ),
    (
        1023,
        "Webhook endpoint failing",
        "your webhook endpoint did not answer in time",
        "webhook",
        "Make the endpoint answer within ten seconds and return a 2xx status.",
    ),
    (
        1024,
        "API key revoked",
        "the API key used for the request has been revoked",
        "revoked",
        "Create a new key and update your integration.",
    ),
    (
        1025,
        "API scope missing",
        "the API key has read-only scope and the request tried to change data",
        "scope",
        "Create a key with read-write scope.",
    ),
    (
        1026,
        "Payment amount too small",
        "the payment is below the minimum that the card processor accepts",
        "minimum",
        "Combine small invoices or ask for a bank transfer.",
    ),
    (
        1027,
        "Receipt not readable",
        "receipt scanning could not read the supplier or the amount",
        "scanning",
        "Take a sharper photo in daylight or type the details in.",
    ),
    (
        1028,
        "Email domain not verified",
        "the sending domain has no valid DNS records yet",
        "DNS",
        "Publish the DNS records shown under Settings > Email and wait for them to spread.",
    ),
    (
        1029,
        "Export already running",
        "another export of the same data is still being prepared",
        "export",
        "Wait for the email with the first export before starting another.",
    ),
    (
        1030,
        "Workspace read-only",
        "the workspace is read-only because the subscription has ended or is paused",
        "read-only",
        "Reactivate the plan or fix the failed payment.",
    ),
]

_ERROR_CONTEXT = [
    "The code appears in a red banner at the top of the page and in the activity log.",
    "Tallyhop shows the code together with a short message so that support can find the cause quickly.",
    "The same code is returned by the API in the error field of the response body.",
]
_ERROR_GENERIC = [
    "Refreshing the page does not clear this error; the underlying problem has to be fixed first.",
    "Nothing was saved when the error appeared, so you can safely try again after fixing the cause.",
    "Other people in your workspace see the same error until the cause is fixed.",
    "The error is recorded in the audit log on the Scale plan, with the person and the time.",
    "If you use the mobile app, the same code appears there with the same meaning.",
]


def _error_article(code: int, title: str, meaning: str, word: str, fix: str, rng: random.Random) -> tuple[str, Fact]:
    sentence = f"Error TH-{code} means that {meaning}."
    generic = rng.sample(_ERROR_GENERIC, 3)
    text = f"""# Error TH-{code}: {title}

{rng.choice(_ERROR_CONTEXT)} This article explains what it means and how to fix it.

## What it means

{sentence} {generic[0]}

## How to fix it

{fix} {generic[1]}

If you are not allowed to make the change yourself, ask an owner or admin of the workspace. They can
see the same message and the record it refers to.

## An example

A bookkeeper working late on a Friday sees the banner with TH-{code} while finishing the week's
invoices. She opens the record named in the message, follows the fix above, and presses the same
button again. The banner disappears and the action completes. If the banner had come back, the next
step would have been to copy the full message and send it to support together with the time.

## Good to know

{generic[2]} Error codes always start with TH- followed by four digits; the first digit tells the
area of the product, and codes in the 1000 range come from everyday tasks such as invoicing,
payments, banking, imports and settings.

## Still stuck?

Contact support from Help > Contact us and include the full code, TH-{code}, the time you saw it and
what you were doing. A screenshot helps. Support can look up the request behind the error, but
cannot see your password or your customers' card details.

Related: the list of all error codes is under Help > Error codes, sorted by number, with a link to
the article for each one.

## Frequently asked questions

{_faq(_ERROR_FAQ, rng, 5)}
"""
    fact = Fact(
        question=f"What does error TH-{code} mean?",
        doc_id=f"error-th-{code}",
        sentence=sentence,
        answer=sentence,
        facts=(word,),
        topic="error",
    )
    return text, fact


# --------------------------------------------------------------------------------------------
# Tax rates
# --------------------------------------------------------------------------------------------

TAXES = [
    # country, slug, tax, rate, e-invoicing remark
    ("Germany", "germany", "VAT", "19", "XRechnung files can be downloaded for public-sector customers."),
    ("France", "france", "VAT", "20", "Tallyhop prints the legal mentions required on French invoices."),
    ("Spain", "spain", "VAT", "21", "Invoices include the fields required by the Verifactu rules."),
    ("Italy", "italy", "VAT", "22", "Invoices can be sent through the SDI exchange system."),
    ("Portugal", "portugal", "VAT", "23", "Each invoice carries the ATCUD code and a QR code."),
    ("the Netherlands", "netherlands", "VAT", "21", "Reverse-charge invoices to EU businesses are supported."),
    ("Belgium", "belgium", "VAT", "21", "Invoices to Belgian businesses can be sent over Peppol."),
    ("Ireland", "ireland", "VAT", "23", "The VAT3 summary can be exported for your return."),
    ("Austria", "austria", "VAT", "20", "ebInterface files can be created for public-sector customers."),
    ("Sweden", "sweden", "VAT", "25", "Invoices can carry an OCR payment reference."),
    ("Denmark", "denmark", "VAT", "25", "Invoices to public bodies can be sent as OIOUBL files."),
    ("Finland", "finland", "VAT", "25.5", "Finvoice files can be created for Finnish businesses."),
    ("Poland", "poland", "VAT", "23", "Invoices can be submitted to the KSeF system."),
    ("Czechia", "czechia", "VAT", "21", "Invoices show the taxable supply date separately."),
    ("Greece", "greece", "VAT", "24", "Invoices are reported to the myDATA platform."),
    ("Hungary", "hungary", "VAT", "27", "Invoices are reported to the NAV online system in real time."),
    ("Romania", "romania", "VAT", "21", "Invoices to Romanian businesses are sent through e-Factura."),
    ("Croatia", "croatia", "VAT", "25", "Invoices show the operator label required in Croatia."),
    ("Slovenia", "slovenia", "VAT", "22", "Invoices can be exported in the eSLOG format."),
    ("Luxembourg", "luxembourg", "VAT", "17", "Peppol invoices are supported for public buyers."),
    ("Estonia", "estonia", "VAT", "24", "Invoices can be exported for the e-invoice operator of your choice."),
    ("Latvia", "latvia", "VAT", "21", "Invoices show the VAT number of both parties."),
    ("the United Kingdom", "united-kingdom", "VAT", "20", "VAT returns can be filed under Making Tax Digital."),
    ("Norway", "norway", "VAT", "25", "Invoices can be sent over the EHF format."),
    ("Switzerland", "switzerland", "VAT", "8.1", "Invoices can include a Swiss QR bill."),
    ("Australia", "australia", "GST", "10", "Invoices are titled Tax invoice as the ATO requires."),
    ("New Zealand", "new-zealand", "GST", "15", "Invoices show your GST number on every page."),
    ("Canada", "canada", "GST", "5", "Provincial sales taxes can be added on top of GST."),
    ("Singapore", "singapore", "GST", "9", "Invoices can be sent over the InvoiceNow network."),
    ("Japan", "japan", "consumption tax", "10", "Invoices show your qualified invoice issuer number."),
]

_TAX_GENERIC = [
    "Reduced rates for food, books or transport can be added as extra tax rates and picked per line.",
    "Tallyhop does not file returns for you, but the sales tax report adds up everything you need.",
    "If you sell to consumers in other countries, you may have to charge their local rate instead.",
    "Rates are reviewed every quarter; when a rate changes, Tallyhop updates the default and emails owners.",
    "Exempt customers can be marked on their customer page so that no tax is added to their invoices.",
    "Your tax number appears in the invoice footer once you add it under Settings > Company.",
]


def _tax_article(country: str, slug: str, tax: str, rate: str, remark: str, rng: random.Random) -> tuple[str, Fact]:
    where = country[0].upper() + country[1:]
    sentence = f"For customers in {country}, Tallyhop applies a standard {tax} rate of {rate} percent."
    generic = rng.sample(_TAX_GENERIC, 4)
    text = f"""# {tax} in {where}

This article explains how Tallyhop handles {tax} on invoices when your business is registered in
{country}. It is general product help, not tax advice; check with your accountant if you are unsure.

## The standard rate

{sentence} The rate is added to each line unless you pick another rate or mark the line as exempt.
{generic[0]}

## Set up your tax details

1. Go to Settings > Company and choose {where} as your country.
2. Enter your {tax} registration number.
3. Review the tax rates Tallyhop created for you under Settings > Taxes.
4. Pick a default rate for new line items.

## A worked example

Say you invoice 1,000 in your base currency for consulting work. With the standard rate, the tax is
worked out on the line amount after any discount, rounded to the nearest cent (or the smallest unit
of your currency), and shown on its own line above the total. If one line uses a reduced rate, the
invoice shows one tax line per rate, and the sales tax report splits the amounts the same way. A
discount on the whole invoice is spread across the lines before tax is calculated, so the tax on the
invoice always matches the tax in the report.

## Reduced and zero rates

Some goods and services use a reduced rate or no tax at all. Add each rate you need under
Settings > Taxes with a clear name, such as Reduced or Zero rated, and pick it on the lines it applies
to. Tallyhop keeps a history of every rate, so older invoices keep the rate that applied when they
were sent.

## Invoices and e-invoicing

{remark} {generic[1]}

## Reporting

The sales tax report shows the {tax} you charged and the {tax} you paid on expenses for any period,
split by rate. {generic[2]}

## Common questions

{generic[3]} Businesses that are not registered for {tax} can turn tax off completely under
Settings > Taxes; invoices then say that no {tax} is charged.

## Frequently asked questions

{_faq(_TAX_FAQ, rng, 5)}
"""
    fact = Fact(
        question=f"What standard {tax} rate does Tallyhop apply for customers in {country}?",
        doc_id=f"tax-{slug}",
        sentence=sentence,
        answer=sentence,
        facts=(f"{rate} percent",),
        topic="tax",
    )
    return text, fact


# --------------------------------------------------------------------------------------------
# Currencies
# --------------------------------------------------------------------------------------------

CURRENCIES = [
    # name, code, decimal places (word), payout remark
    ("euro", "EUR", "two", "Payouts in euros reach most European banks within one business day."),
    ("US dollar", "USD", "two", "Payouts in US dollars are sent by ACH."),
    ("pound sterling", "GBP", "two", "Payouts in pounds are sent by Faster Payments."),
    ("Japanese yen", "JPY", "zero", "Card payments in yen are settled in yen without conversion."),
    ("Swiss franc", "CHF", "two", "Cash totals can be rounded to the nearest five centimes."),
    ("Kuwaiti dinar", "KWD", "three", "Card payments in dinar are converted before payout."),
    ("Bahraini dinar", "BHD", "three", "Bank transfers in dinar are matched by the feed like any other."),
    ("Canadian dollar", "CAD", "two", "Payouts in Canadian dollars reach Canadian banks in two days."),
    ("Australian dollar", "AUD", "two", "Payouts in Australian dollars are sent by direct entry."),
    ("Swedish krona", "SEK", "two", "Invoices in kronor can carry an OCR reference."),
    ("Danish krone", "DKK", "two", "Invoices in kroner can carry an FIK payment code."),
    ("Polish zloty", "PLN", "two", "Invoices in zloty can be reported to KSeF."),
    ("Korean won", "KRW", "zero", "Card payments in won are converted before payout."),
    ("Singapore dollar", "SGD", "two", "Payouts in Singapore dollars are sent by FAST."),
    ("Indian rupee", "INR", "two", "Card payments in rupees need the customer's billing address."),
]

_CURRENCY_GENERIC = [
    "Exchange rates for reports come from the daily reference rate, and you can override them per invoice.",
    "Your base currency is set when the workspace is created and cannot be changed later.",
    "Each customer can have their own currency; new invoices for them use it automatically.",
    "Reports convert every amount into your base currency on the invoice date.",
    "Bank transfers in another currency are matched once the converted amount arrives in your account.",
]


def _currency_article(name: str, code: str, places: str, remark: str, rng: random.Random) -> tuple[str, Fact]:
    sentence = f"Tallyhop rounds amounts in {name} ({code}) to {places} decimal places."
    generic = rng.sample(_CURRENCY_GENERIC, 3)
    plural = name if name.endswith(("yen", "won")) else name + "s"
    text = f"""# Invoicing in {name} ({code})

You can send invoices, estimates and credit notes in {plural} from any Tallyhop plan. This article
covers what is specific to {code}.

## Rounding

{sentence} Totals are calculated from the rounded line amounts, so the total always equals the sum of
the lines shown on the invoice. {generic[0]}

## An example

An invoice with three lines in {code} is calculated line by line: each line amount is quantity times
unit price, rounded as described above, and tax is added per line. The invoice total is the sum of
the rounded lines and rounded tax amounts, so a customer adding up the invoice by hand gets exactly
the same total as Tallyhop.

## Getting paid

{remark} Customers paying online see the amount in {code}, and card fees are deducted in the same
currency before the payout.

## Setting it up

1. Open the customer and choose {code} as their currency.
2. Create an invoice as usual; the currency is shown next to every amount.
3. If you have a bank account in {code}, add it under Settings > Payments so that it is printed on
   invoices in that currency.

## Good to know

{generic[1]} {generic[2]} If an invoice was sent in the wrong currency, cancel it with a credit note
and send a new one; the currency of a sent invoice cannot be changed.

## Frequently asked questions

{_faq(_CURRENCY_FAQ, rng, 5)}
"""
    fact = Fact(
        question=f"How many decimal places does Tallyhop use for amounts in {name}?",
        doc_id=f"currency-{code.lower()}",
        sentence=sentence,
        answer=sentence,
        facts=(f"{places} decimal places",),
        topic="currency",
    )
    return text, fact


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------

REPORTS = [
    # title, slug, purpose, unique fact sentence, fact
    (
        "Profit and loss",
        "profit-and-loss",
        "shows income, expenses and profit for a period",
        "The profit and loss report can compare up to four periods side by side.",
        "four periods",
    ),
    (
        "Balance sheet",
        "balance-sheet",
        "shows what the business owns and owes on a given date",
        "The balance sheet report can be run for any date back to the start of your workspace.",
        "any date",
    ),
    (
        "Aged receivables",
        "aged-receivables",
        "shows unpaid invoices by how long they are overdue",
        "The aged receivables report groups unpaid invoices into 30, 60 and 90 day buckets.",
        "90 day",
    ),
    (
        "Cash flow",
        "cash-flow",
        "shows money coming in and going out of your bank accounts",
        "The cash flow report forecasts the next 13 weeks from due dates and recurring invoices.",
        "13 weeks",
    ),
    (
        "Sales tax",
        "sales-tax-report",
        "adds up the tax charged on invoices and paid on expenses",
        "The sales tax report can be exported in the layout of your country's return form.",
        "return form",
    ),
    (
        "Expenses by category",
        "expenses-by-category",
        "shows spending per expense category",
        "The expenses by category report highlights any category that grew by more than 20 percent.",
        "20 percent",
    ),
    (
        "Revenue by customer",
        "revenue-by-customer",
        "ranks customers by what they paid you",
        "The revenue by customer report lists your top 50 customers and groups the rest as Other.",
        "50",
    ),
    (
        "Invoice status",
        "invoice-status",
        "lists invoices by status",
        "The invoice status report can be scheduled to arrive by email every Monday morning.",
        "Monday",
    ),
    (
        "Payments received",
        "payments-received",
        "lists payments by date and method",
        "The payments received report shows card fees in a separate column for each payment.",
        "card fees",
    ),
    (
        "Time by project",
        "time-by-project",
        "shows tracked time per project and person",
        "The time by project report marks unbilled hours in orange.",
        "orange",
    ),
    (
        "Trial balance",
        "trial-balance",
        "lists the balance of every account",
        "The trial balance report is only visible to owners, admins and accountants.",
        "accountants",
    ),
    (
        "General ledger",
        "general-ledger",
        "lists every transaction in every account",
        "The general ledger report can be filtered by account, contact and tracking tag.",
        "tracking tag",
    ),
]

_REPORT_GENERIC = [
    "Every report can be downloaded as PDF, CSV or Excel.",
    "Reports use your base currency and convert foreign amounts on the transaction date.",
    "Saved reports keep your filters and can be shared with your accountant.",
    "Reports follow the accounting basis chosen under Settings > Reports: cash or accrual.",
    "Figures update as soon as a record changes; there is no overnight delay.",
]


def _report_article(title: str, slug: str, purpose: str, sentence: str, word: str, rng: random.Random):
    generic = rng.sample(_REPORT_GENERIC, 3)
    lower = title[0].lower() + title[1:]
    text = f"""# The {lower} report

The {lower} report {purpose}. Open it from Reports > {title}.

## Reading the report

{sentence} {generic[0]} Click any figure to see the records behind it, and click a record to open it.

## Choosing the period

Pick a preset such as This month, Last quarter or This financial year, or enter your own dates. Your
financial year starts in the month set under Settings > Company.

## Filters

Filter by customer, category, project or tracking tag. {generic[1]}

## Sharing

{generic[2]} Accountants invited to your workspace can open every report without a seat on a higher
plan.

## Frequently asked questions

{_faq(_REPORT_FAQ, rng, 4)}
"""
    fact = Fact(
        question=f"What can you tell me about the {lower} report?",
        doc_id=f"report-{slug}",
        sentence=sentence,
        answer=sentence,
        facts=(word,),
        topic="report",
    )
    return text, fact


# --------------------------------------------------------------------------------------------
# Release notes (bulk, like every real help centre has; no answerable facts)
# --------------------------------------------------------------------------------------------

_RELEASE_LINES = [
    "Invoices: you can now drag line items to reorder them, and the order is kept in the PDF.",
    "Invoices: long descriptions wrap onto several lines in the PDF instead of being cut.",
    "Invoices: the invoice page shows when the customer last opened the invoice link.",
    "Estimates: accepted estimates show the name and time of acceptance in their history.",
    "Estimates: you can attach files to an estimate, and they are included in the email.",
    "Customers: the customer list can be filtered by tag, country and outstanding balance.",
    "Customers: merging two customer records now keeps the notes of both.",
    "Payments: partial payments are shown as a progress bar on the invoice list.",
    "Payments: refunds made in the card processor now appear in Tallyhop automatically.",
    "Banking: the matching screen suggests up to three candidate invoices for each transaction.",
    "Banking: rules can now match on the transaction reference as well as the amount.",
    "Expenses: expenses can be split across several categories in one step.",
    "Expenses: mileage claims can be entered with a start and end address.",
    "Reports: every report remembers the last period you chose.",
    "Reports: exported spreadsheets now include a sheet with the filters that were used.",
    "Time tracking: timers can be started from the mobile app's home screen widget.",
    "Time tracking: unbilled time older than 60 days is highlighted on the dashboard.",
    "Team: owners can see when each team member last signed in.",
    "Team: invitations expire after 14 days and can be resent with one click.",
    "Security: you are notified by email when someone signs in from a new country.",
    "Security: sessions on shared computers can be ended from Profile > Security.",
    "Settings: the settings menu has a search box.",
    "Settings: invoice templates can use a second accent colour.",
    "Mobile: the app supports larger text sizes throughout.",
    "Mobile: receipts can be photographed in batches of up to ten.",
    "Email: reminder emails can include a short personal note per customer.",
    "Email: you can preview every email before it is sent.",
    "Imports: the import tool shows a preview of the first ten rows before importing.",
    "Imports: errors in an import file are listed with the row number and the column.",
    "API: list endpoints return a cursor for the next page.",
    "API: new endpoints for credit notes and tracking tags.",
    "Accessibility: every page can now be used with the keyboard alone.",
    "Accessibility: colour contrast was improved on charts and status labels.",
    "Performance: the invoice list loads faster for workspaces with many invoices.",
    "Performance: PDFs are generated in the background, so sending is instant.",
    "Fixed: the due date was sometimes shown in the wrong time zone on the invoice list.",
    "Fixed: a tax line could appear twice on invoices with a whole-invoice discount.",
    "Fixed: some reminder emails went out with the previous month's amounts.",
    "Fixed: searching customers by tax number did not find numbers with spaces.",
    "Fixed: the mobile app could show an outdated balance until it was restarted.",
]

RELEASES = [f"{year}-{month:02d}" for year in (2025, 2026) for month in range(1, 13)][:22]
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def _release_article(release: str, rng: random.Random) -> str:
    year, month = release.split("-")
    when = f"{_MONTHS[int(month) - 1]} {year}"
    lines = rng.sample(_RELEASE_LINES, 9)
    highlight, rest = lines[0], lines[1:]
    return (
        f"""# What's new in {when}

Here is everything we shipped in {when}. Changes roll out to every workspace over a few days, so you
may see some of them a little later than others.

## Highlight of the month

{highlight} We built this after many of you asked for it in the community forum and in support
chats. Thank you for the feedback; keep it coming from Help > Send feedback.

## Everything else

"""
        + "\n".join(f"- {line}" for line in rest)
        + f"""

## Coming next

We are working on more improvements to invoicing, banking and reports. We do not announce dates for
features that are still in development, but the roadmap page in the community forum shows what we
are exploring, and you can vote for the ideas that matter most to you.

## Questions about this release

If something does not work the way it is described here, contact support from Help > Contact us and
mention the release month, {when}.
"""
    )


# --------------------------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------------------------


def templated_articles() -> tuple[dict[str, str], list[Fact]]:
    """Relative path -> text for every templated article, and the facts they hold."""
    rng = random.Random("tallyhop-corpus-v1")
    files: dict[str, str] = {}
    facts: list[Fact] = []
    for name, slug, kind, minutes in INTEGRATIONS:
        text, fact = _integration_article(name, slug, kind, minutes, rng)
        files[f"{fact.doc_id}.md"] = text
        facts.append(fact)
    for code, title, meaning, word, fix in ERRORS:
        text, fact = _error_article(code, title, meaning, word, fix, rng)
        files[f"{fact.doc_id}.md"] = text
        facts.append(fact)
    for country, slug, tax, rate, remark in TAXES:
        text, fact = _tax_article(country, slug, tax, rate, remark, rng)
        files[f"{fact.doc_id}.md"] = text
        facts.append(fact)
    for name, code, places, remark in CURRENCIES:
        text, fact = _currency_article(name, code, places, remark, rng)
        files[f"{fact.doc_id}.md"] = text
        facts.append(fact)
    for title, slug, purpose, sentence, word in REPORTS:
        text, fact = _report_article(title, slug, purpose, sentence, word, rng)
        files[f"{fact.doc_id}.md"] = text
        facts.append(fact)
    for release in RELEASES:
        files[f"whats-new-{release}.md"] = _release_article(release, rng)
    return files, facts


def build_corpus() -> dict[str, str]:
    """Relative path -> text of the whole hidden corpus (public + hand-written + templated)."""
    files: dict[str, str] = {}
    for root in (PUBLIC_DOCS, HANDWRITTEN):
        for path in sorted(root.rglob("*.md")):
            rel = path.relative_to(root).as_posix()
            if rel in files:
                raise ValueError(f"duplicate article {rel}")
            files[rel] = path.read_text(encoding="utf-8")
    generated, _ = templated_articles()
    for rel, text in generated.items():
        if rel in files:
            raise ValueError(f"duplicate article {rel}")
        files[rel] = text
    stems = [Path(rel).stem for rel in files]
    if len(stems) != len(set(stems)):
        raise ValueError("doc ids (file stems) must be unique across the corpus")
    return dict(sorted(files.items()))


def write_corpus(target: Path = DOCS) -> int:
    files = build_corpus()
    if target.exists():
        shutil.rmtree(target)
    for rel, text in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return len(files)


if __name__ == "__main__":
    count = write_corpus(Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS)
    print(f"wrote {count} articles")
