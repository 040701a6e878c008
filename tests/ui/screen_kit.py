"""The trading screen as the browser tests drive it: a page, what it logged, and the steps
a user takes (sign up, deposit, place an order), all through the elements' ``data-testid``.

Invariants:
- Every wait is Playwright's auto-waiting (``expect(...)`` or ``wait_for_function``) on a
  real condition of the page, with a deadline; nothing sleeps.
- Everything the page reports as a JavaScript failure is kept in ``problems``: uncaught
  exceptions and unhandled rejections (``pageerror``), console messages of type ``error``,
  and the UI's own ``feed handler failed`` warning (``ws.ts`` catches an exception thrown
  by a feed handler and only warns, so it would otherwise pass unseen).  The one console
  error left out is Chromium's ``Failed to load resource: ... status of 4xx`` line for an
  answer the test provoked on purpose and declared with ``allow_http_error``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from gateway_kit import User
from playwright.sync_api import ConsoleMessage, Error, Locator, Page, Response, expect

MARKET = "BTC-USDT"
TIMEOUT_MS = 10_000

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Chromium's own line for an HTTP error answer to a fetch; not a JavaScript error.
_FAILED_RESOURCE = re.compile(
    r"^Failed to load resource: the server responded with a status of (\d{3})\b"
)

# Is any pixel of a canvas under the element this colour?  Tells drawn series from an
# empty chart: lightweight-charts paints candles, volume bars and the last-price label
# in the series colours, and nothing else in these colours.
_CANVAS_HAS_COLOUR = """
([selector, rgb]) => {
  const [r, g, b] = rgb;
  for (const canvas of document.querySelectorAll(selector + ' canvas')) {
    if (!canvas.width || !canvas.height) continue;
    const ctx = canvas.getContext('2d');
    if (!ctx) continue;
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] === 255 && Math.abs(data[i] - r) <= 2 && Math.abs(data[i + 1] - g) <= 2
          && Math.abs(data[i + 2] - b) <= 2) return true;
    }
  }
  return false;
}
"""

# COLORS.up in ui/src/chart.ts: rising candles.
CANDLE_UP_RGB = (0x0E, 0xCB, 0x81)


def _account_request(path: str, **query: str) -> Callable[[Response], bool]:
    """Matches the answer to a GET of this API path with (at least) this query."""

    def matches(response: Response) -> bool:
        url = urlsplit(response.url)
        if response.request.method != "GET" or url.path != path:
            return False
        params = parse_qs(url.query)
        return all(params.get(name) == [value] for name, value in query.items())

    return matches


@dataclass
class Screen:
    """One page of the trading screen in its own browser context."""

    page: Page
    problems: list[str] = field(default_factory=list)
    allowed_http_errors: set[tuple[str, int]] = field(default_factory=set)
    ignored: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("pageerror", self._on_page_error)
        self.page.on("console", self._on_console)

    # --- what the page reports ------------------------------------------------------------

    def _on_page_error(self, error: Error) -> None:
        self.problems.append(f"pageerror: {error.name}: {error.message}\n{error.stack}")

    def _on_console(self, message: ConsoleMessage) -> None:
        text = message.text
        if message.type == "warning" and text.startswith("feed handler failed"):
            self.problems.append(f"console.warn: {text}")
            return
        if message.type != "error":
            return
        failed = _FAILED_RESOURCE.match(text)
        if failed is not None:
            path = urlsplit(message.location.get("url", "")).path
            if (path, int(failed.group(1))) in self.allowed_http_errors:
                self.ignored.append(f"{text} ({path})")
                return
        self.problems.append(f"console.error: {text} at {message.location}")

    def allow_http_error(self, path: str, status: int) -> None:
        """The test provokes this 4xx answer on purpose: Chromium's line for it is expected."""
        assert 400 <= status < 500, status
        self.allowed_http_errors.add((path, status))

    def assert_no_js_errors(self) -> None:
        assert self.problems == [], "\n".join(self.problems)

    # --- elements ---------------------------------------------------------------------------

    def by_id(self, testid: str) -> Locator:
        return self.page.get_by_test_id(testid)

    def balance(self, asset: str) -> Locator:
        return self.by_id(f"balance-{asset}")

    def book_row(self, side: str, price: str) -> Locator:
        """The ladder row of this price on one side ("bid" or "ask")."""
        return self.by_id(f"book-{side}s").locator(
            f'[data-testid="book-row"][data-price="{price}"]'
        )

    def order_row(self, order_id: str) -> Locator:
        return self.by_id("open-orders").locator(
            f'[data-testid="order-row"][data-order-id="{order_id}"]'
        )

    def trade_row(self, trade_id: str) -> Locator:
        return self.by_id("trades-list").locator(
            f'[data-testid="trade-row"][data-trade-id="{trade_id}"]'
        )

    # --- steps --------------------------------------------------------------------------------

    def open(self, market: str = MARKET) -> None:
        """Loads the screen on a market and waits for the live feed and the book."""
        self.page.goto(f"/#{market}")
        expect(self.by_id("conn-status")).to_have_attribute("data-state", "connected")
        expect(self.by_id(f"market-{market}")).to_have_attribute("aria-selected", "true")
        # the depth snapshot has been applied once the ladder no longer says it is waiting
        expect(self.by_id("book-status")).not_to_have_text(
            re.compile(r"Loading|Waiting|Reconnecting|Resyncing")
        )

    def sign_up(self) -> User:
        """Signs up with the button; returns the user with the key the screen showed once.

        Returns once the screen has the answers of the account requests that signing in
        makes (balances, open orders, order history, fills), so that later changes reach
        the screen only through the feed's pushes or through a later action.
        """
        with (
            self.page.expect_response(_account_request("/api/v1/balances")),
            self.page.expect_response(_account_request("/api/v1/orders", status="open")),
            self.page.expect_response(_account_request("/api/v1/orders", status="all")),
            self.page.expect_response(_account_request("/api/v1/fills")),
        ):
            self.by_id("signup-button").click()
            shown = self.by_id("api-key-shown")
            expect(shown).to_be_visible()
        key = shown.inner_text().strip()
        created = self.page.get_by_text(re.compile(r"^Account \d+ created")).inner_text()
        match = re.match(r"Account (\d+) created", created)
        assert match is not None, created
        self.by_id("api-key-dismiss").click()
        expect(shown).to_be_hidden()
        expect(self.by_id("signout-button")).to_be_visible()
        # the answers are on screen: a new account has every asset at zero
        expect(self.balance("USDT")).to_have_attribute("data-free", re.compile(r"^0(\.0+)?$"))
        return User(match.group(1), key)

    def deposit(self, asset: str, amount: str) -> None:
        """Credits the faucet deposit through the balances panel."""
        self.by_id("deposit-asset").select_option(asset)
        self.by_id("deposit-amount").fill(amount)
        self.by_id("deposit-submit").click()
        expect(self.by_id("funds-result")).to_have_text(f"Deposited {amount} {asset}")

    def place_limit(self, side: str, price: str, qty: str) -> str:
        """Places a limit order through the form; returns the order id the API gave it."""
        self.by_id(f"order-side-{side}").click()
        self.by_id("order-type-limit").click()
        self.by_id("order-price").fill(price)
        self.by_id("order-qty").fill(qty)
        result = self.by_id("order-result")
        before = result.get_attribute("data-order-id") or ""
        self.by_id("order-submit").click()
        expect(result).to_have_attribute(
            "data-order-id", re.compile(rf"^(?!{re.escape(before)}$)\S+$")
        )
        order_id = result.get_attribute("data-order-id")
        assert order_id, "the form showed no order id"
        return order_id

    def chart_has_colour(self, testid: str, rgb: tuple[int, int, int]) -> bool:
        """Whether a canvas of the chart has a pixel of this colour right now."""
        return bool(
            self.page.evaluate(_CANVAS_HAS_COLOUR, [f'[data-testid="{testid}"]', list(rgb)])
        )

    def wait_for_chart_colour(self, testid: str, rgb: tuple[int, int, int]) -> None:
        """Waits until a canvas of the chart has a pixel of this colour (a series drew)."""
        self.page.wait_for_function(
            _CANVAS_HAS_COLOUR,
            arg=[f'[data-testid="{testid}"]', list(rgb)],
            polling=100,
            timeout=TIMEOUT_MS,
        )
