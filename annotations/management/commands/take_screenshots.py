import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application
from django.urls import reverse

from annotations.campaigns import raters_create
from annotations.models import Campaign

if TYPE_CHECKING:
    from playwright.sync_api import Page, ViewportSize

STAFF_USERNAME = "screenshots"
VIEWPORT: "ViewportSize" = {"width": 1200, "height": 860}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


class Command(BaseCommand):
    help = (
        "Screenshots of the rater page and the staff dashboard for the README, taken with "
        "headless Chromium against the app served from this process. Creates one rater of the "
        "campaign and a staff login it disables afterwards. Needs the dev extras (Playwright)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", default="demo")
        parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
        parser.add_argument("--chromium", default="/usr/bin/chromium")

    def handle(self, *args: object, campaign: str, out: Path, chromium: str,
               **options: object) -> None:  # fmt: skip
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            raise CommandError("Playwright is missing: pip install -e '.[dev]'") from None
        found = Campaign.objects.filter(slug=campaign).first()
        if found is None:
            raise CommandError(f"no campaign {campaign!r}; `make demo` creates 'demo'")
        if found.status != Campaign.Status.LIVE:
            raise CommandError(f"campaign {campaign!r} is {found.status}, not live")
        if not Path(chromium).is_file():
            raise CommandError(f"no Chromium at {chromium} (apt-get install chromium)")
        out.mkdir(parents=True, exist_ok=True)
        rater = raters_create(campaign=found, count=1)[0]
        staff_password = _staff_with_new_password()
        # the ORM is done before Playwright starts its event loop in this thread
        try:
            with _served() as base_url, sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
                shots = Shots(browser.new_page(viewport=VIEWPORT), base_url, out)
                shots.rater_pages(rater.username, rater.password)
                shots.dashboard(campaign, STAFF_USERNAME, staff_password)
                browser.close()
        finally:
            user = get_user_model().objects.get(username=STAFF_USERNAME)
            user.set_unusable_password()
            user.save(update_fields=["password"])
        for path in shots.taken:
            self.stdout.write(f"wrote {path}")


class Shots:
    def __init__(self, page: "Page", base_url: str, out: Path) -> None:
        self.page, self.base_url, self.out = page, base_url, out
        self.taken: list[Path] = []

    def rater_pages(self, username: str, password: str) -> None:
        page = self.page
        self._log_in(username, password)
        page.goto(self.base_url + reverse("rate"))
        self._take("rater-consent.png")
        page.get_by_test_id("consent").click()
        while self._question() == "Practice":  # with feedback, until the first main question
            page.locator('[data-verdict="correct"]').click()
            page.get_by_test_id("feedback").wait_for()
            if not self._taken("rater-practice-feedback.png"):
                self._take("rater-practice-feedback.png")
            page.get_by_test_id("next").click()
        self._take("rater-question.png")

    def dashboard(self, slug: str, username: str, password: str) -> None:
        page = self.page
        page.context.clear_cookies()
        self._log_in(username, password)
        page.goto(self.base_url + reverse("dashboard:campaign", args=[slug]))
        page.wait_for_load_state("networkidle")  # the figures
        self._take("dashboard-progress.png")
        curves = page.locator(".card", has=page.get_by_test_id("figure-accuracy"))
        self._take("dashboard-curves.png", curves.screenshot)

    def _log_in(self, username: str, password: str) -> None:
        self.page.goto(self.base_url + reverse("login"))
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password)
        self.page.click("button[type=submit], input[type=submit]")
        self.page.wait_for_load_state()

    def _question(self) -> str:
        """ "Practice" or "Question" for the item on the page, after waiting for the page."""
        stage = self.page.locator(
            "[data-testid=position], [data-testid=finished], [data-testid=unavailable]"
        )
        stage.first.wait_for()
        position = self.page.get_by_test_id("position")
        if not position.count():
            raise CommandError("the campaign has no question left for a new rater")
        return position.inner_text().split()[0]

    def _taken(self, name: str) -> bool:
        return self.out / name in self.taken

    def _take(self, name: str, screenshot: Callable[..., bytes] | None = None) -> None:
        """The page as it shows now, or the part of it that ``screenshot`` takes."""
        path = self.out / name
        (screenshot or self.page.screenshot)(path=str(path))
        self.taken.append(path)


def _staff_with_new_password() -> str:
    user, _ = get_user_model().objects.get_or_create(username=STAFF_USERNAME)
    password = secrets.token_urlsafe(12)
    user.is_staff = True
    user.set_password(password)
    user.save()
    return password


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _served() -> Iterator[str]:
    """The app (and its static files) on a free port of 127.0.0.1, from a background thread."""
    server = ThreadedWSGIServer(("127.0.0.1", 0), _QuietHandler, allow_reuse_address=False)
    server.set_app(StaticFilesHandler(get_wsgi_application()))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
