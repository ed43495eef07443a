"""``python manage.py screenshots``: full-page PNGs of the main pages from a running server, as
the demo expert, reviewer and lab owner see them, at 1440 and 390 px (docs/testing.md)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rlhf_platform.accounts.management.commands.seed_demo import DEMO_PASSWORD
from rlhf_platform.core.screenshots import (
    CHROMIUM,
    DEMO_ACCOUNTS,
    PAGE_NAMES,
    WIDTHS,
    ScreenshotError,
    screenshots_take,
)


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        widths = ()
    if not widths or any(not 200 <= width <= 4000 for width in widths):
        raise CommandError("--widths: give pixel widths between 200 and 4000, comma-separated, e.g. 1440,390")
    return widths


class Command(BaseCommand):
    help = "Save full-page screenshots of the main pages of a running server (make run) with Chromium."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="The running server.")
        parser.add_argument("--out", default=".data/screenshots", help="The folder for the PNG files.")
        parser.add_argument(
            "--pages", default="", help=f"Comma-separated, of: {', '.join(PAGE_NAMES)} (default: all)."
        )
        parser.add_argument(
            "--widths", default=",".join(map(str, WIDTHS)), help="Pixel widths, e.g. 1440,390."
        )
        parser.add_argument("--expert", default=DEMO_ACCOUNTS["expert"], help="The expert's e-mail.")
        parser.add_argument("--staff", default=DEMO_ACCOUNTS["staff"], help="The staff reviewer's e-mail.")
        parser.add_argument("--owner", default=DEMO_ACCOUNTS["owner"], help="The lab owner's e-mail.")
        parser.add_argument("--password", default=DEMO_PASSWORD, help="The accounts' password (the demo's).")
        parser.add_argument("--chromium", default=CHROMIUM, help="The Chromium executable.")

    def handle(self, *args, **options):
        pages = [name.strip() for name in options["pages"].split(",") if name.strip()] or None
        if not Path(options["chromium"]).exists():
            raise CommandError(f"--chromium: no Chromium at {options['chromium']} (apt-get install chromium)")
        try:
            written = screenshots_take(
                base_url=options["url"],
                out_dir=Path(options["out"]),
                pages=pages,
                widths=_widths(options["widths"]),
                accounts={who: options[who] for who in ("expert", "staff", "owner")},
                password=options["password"],
                chromium=options["chromium"],
            )
        except ImportError as exc:
            raise CommandError("Playwright for Python is needed: make install (requirements-dev.in)") from exc
        except ScreenshotError as exc:
            raise CommandError(str(exc)) from exc
        for path in written:
            self.stdout.write(str(path))
        self.stdout.write(f"{len(written)} screenshots in {options['out']}")
