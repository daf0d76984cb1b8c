from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.login_throttle import login_unlock


class Command(BaseCommand):
    help = (
        "Lift a staff sign-in lock now (it would expire after LOGIN_THROTTLE_WINDOW_S): a username's, "
        "a client address's (--client), or both. Audited as login.unlocked."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", nargs="?", help="The username, as typed (case and spacing do not matter).")
        parser.add_argument("--client", help="A client address the sign-in page said was locked.")

    def handle(self, *args: Any, username: str | None = None, client: str | None = None, **options: Any) -> None:
        if username is None and client is None:
            raise CommandError("Name a username, a --client address, or both.")
        login_unlock(username=username, client=client)
        self.stdout.write(self.style.SUCCESS("Unlocked " + " and ".join(filter(None, [username, client])) + "."))
