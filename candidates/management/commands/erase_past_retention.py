from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from candidates.selectors import candidates_past_retention, months_before
from candidates.services import candidates_erase_past_retention


class Command(BaseCommand):
    help = (
        "Erase the personal data and uploads of candidates whose invitations all ended "
        "DATA_RETENTION_MONTHS ago (beat runs this every 6 hours). --dry-run lists them instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="List who would be erased; change nothing.")

    def handle(self, *args, dry_run: bool = False, **options):
        now = timezone.now()
        months = settings.DATA_RETENTION_MONTHS
        cutoff = months_before(now, months)
        self.stdout.write(f"Retention {months} months: invitations that ended before {cutoff:%Y-%m-%d %H:%M} UTC.")
        if dry_run:
            due = list(candidates_past_retention(now=now, months=months).values_list("pk", flat=True))
            self.stdout.write(f"{len(due)} candidate(s) would be erased" + (f": ids {due}" if due else "."))
            return
        erased = candidates_erase_past_retention(now=now, months=months)
        self.stdout.write(self.style.SUCCESS(f"Erased {len(erased)} candidate(s)."))
