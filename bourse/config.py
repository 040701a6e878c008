"""The exchange's configuration: one TOML file places every process and sets every rule.

Invariants:
- A config that loads is whole and consistent: every key is known and of the right type
  (msgspec names the key path of the first that is not), every market's assets exist,
  its tick and lot sit on the assets' precision, ``tick * lot`` is a whole number of quote
  units, every process sits on a declared host, and no two processes share an endpoint.
- Errors surface at start-up as :class:`ConfigError`, never later.
- A ZeroMQ endpoint listens on tcp and on a local socket; a process that knows its host
  (``run_on_host``) reaches the processes of the same host through the local socket and
  every other one through tcp.  Tools and tests that say nothing use tcp.
- Every process of a config has one name (bourse/peers.py), and ``processes`` lists them
  all with their host: the names its CURVE key files carry.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

from bourse.coordination import CoordinatorSection, CoordinatorSettings, coordinator_settings
from bourse.ids import shard_of_user
from bourse.market import FEE_SCALE, Market
from bourse.money import AmountError, decimals_of, parse_units
from bourse.peers import (
    FEED,
    GATEWAY,
    OPERATOR,
    engine_name,
    relay_name,
    shard_name,
    standby_name,
)

MAX_SHARDS = 2**15
MAX_BUSY_POLL_US = 100_000
_MARKET_NAME = re.compile(r"[A-Z0-9]{2,12}-[A-Z0-9]{2,12}")
_ASSET_NAME = re.compile(r"[A-Z0-9]{2,12}")


class ConfigError(ValueError):
    """The config file is wrong; the message names the key and the rule."""


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class ExchangeSection(_Section, frozen=True):
    name: str = "bourse"
    open_signup: bool = False
    faucet: bool = False
    admin_key_sha256: str = ""
    request_timeout_ms: int = 5000
    # How far apart the hosts' clocks may be: a request is executed only while the
    # executing actor's clock is this far before the client's deadline (NTP keeps a LAN
    # within a few ms; this is the margin the guarantee relies on).
    max_clock_skew_ms: int = 25
    rate_limit_per_s: int = 100
    rate_limit_burst: int = 200


class JournalSection(_Section, frozen=True):
    fsync: Literal["batch", "none"] = "batch"
    snapshot_every: int = 100_000


class ActorsSection(_Section, frozen=True):
    # After a turn with work, an actor keeps polling its sockets this long before it
    # sleeps: a message that comes soon after is picked up without a wake-up.
    busy_poll_us: int = 0


class SecuritySection(_Section, frozen=True):
    # CURVE encryption and ZAP authentication on every ZeroMQ socket.  Off only to
    # measure what it costs: without it anyone who reaches a port speaks for any process.
    curve: bool = True
    # The keys folder (public/ and secret/, see transport/keys.py); relative to the data
    # folder, default "keys" there.
    keys_dir: str = "keys"


class HostSection(_Section, frozen=True):
    address: str


class AssetSection(_Section, frozen=True):
    decimals: int


class StandbySection(_Section, frozen=True):
    """Where the hot standby of an engine or a shard runs (its host and ports)."""

    host: str
    router_port: int
    pub_port: int
    repl_port: int
    metrics_port: int = 0


class MarketSection(_Section, frozen=True):
    base: str
    quote: str
    tick: str
    lot: str
    min_notional: str
    maker_fee: str
    taker_fee: str
    host: str
    router_port: int
    pub_port: int
    metrics_port: int = 0  # 0: no metrics endpoint
    repl_port: int = 0  # where its standby follows it (needed with a standby)
    standby: StandbySection | None = None


class ShardSection(_Section, frozen=True):
    host: str
    router_port: int
    pub_port: int
    metrics_port: int = 0
    repl_port: int = 0
    standby: StandbySection | None = None


class GatewaySection(_Section, frozen=True):
    host: str
    port: int
    workers: int = 1
    cors_origins: list[str] = msgspec.field(default_factory=list)
    max_body_bytes: int = 16_384
    # What one client may cost a worker (each worker counts its own connections).
    max_header_bytes: int = 16_384  # request line and headers; past it 431
    max_headers: int = 100
    header_timeout_ms: int = 10_000  # accept (or a request's first byte) to its last header
    body_timeout_ms: int = 10_000  # last header to the body's last byte
    keepalive_timeout_ms: int = 5_000  # idle between two requests
    max_connections: int = 4_096
    max_connections_per_address: int = 256
    max_json_depth: int = 32
    # Budgets per client address: a rate per second and a burst.
    signup_per_s: float = 0.1
    signup_burst: int = 10
    admin_per_s: float = 10.0
    admin_burst: int = 100
    # Proxies (addresses or CIDR blocks) whose X-Forwarded-For names the client; from any
    # other peer the header is ignored and the client is the socket's peer.
    trusted_proxies: list[str] = msgspec.field(default_factory=list)
    # Order entry over WebSocket (/api/v1/ws): per connection.
    ws_max_message_bytes: int = 65_536  # a larger message closes the connection (1009)
    ws_max_in_flight: int = 256  # requests answered at once; past it reading waits
    ws_max_refusals: int = 50  # 429 answers in a row before the connection is closed (1008)
    ws_ping_interval_ms: int = 20_000  # and as long for the pong before closing


class RelaySection(_Section, frozen=True):
    """One feed relay of several (``[[feed.relays]]``): where it runs and listens."""

    host: str
    router_port: int
    ws_port: int  # relays of one host may share it: the kernel spreads the connections
    metrics_port: int = 0  # its own /metrics (the ws port's /metrics may be a neighbour's)


class FeedSection(_Section, frozen=True):
    # One relay: where it runs, here.  Several: none of these, a [[feed.relays]] each.
    host: str = ""
    router_port: int = 0
    ws_port: int = 0
    metrics_port: int = 0
    relays: list[RelaySection] = msgspec.field(default_factory=list)
    conflate_ms: int = 50
    send_queue: int = 1024
    max_message_bytes: int = 4_096  # past it an error reply; past 4 times it, close 1009
    max_message_depth: int = 32
    max_connections: int = 16_384
    max_connections_per_address: int = 256
    slow_close_timeout_ms: int = 30_000  # a dropped slow consumer's time to read its close
    auth_per_s: float = 1.0  # `auth` ops per client address
    auth_burst: int = 20


class MarketDataSection(_Section, frozen=True):
    """Market data between the engines and the feed relays."""

    # Public trades each engine keeps (in its state: snapshots and standbys hold them too)
    # to answer "the trades after sequence N" to a relay that missed some.
    retain_trades: int = 100_000
    # An engine that published nothing for this long publishes a heartbeat.
    heartbeat_ms: int = 250
    # A relay that heard nothing of a market for this long tells its subscribers the
    # market's data is stale (at least twice the heartbeat).
    stale_after_ms: int = 1_000


class AuthFailuresSection(_Section, frozen=True):
    """Failed authentications per client address, counted by the gateway and the feed
    each: past ``slow_after`` their answers are delayed, at ``block_after`` the address
    is refused (429) for ``block_ms``; one failure is forgotten every ``forget_ms``."""

    slow_after: int = 5
    block_after: int = 20
    delay_ms: int = 1_000
    block_ms: int = 60_000
    forget_ms: int = 30_000


class ConfigFile(_Section, kw_only=True, frozen=True):
    exchange: ExchangeSection = msgspec.field(default_factory=ExchangeSection)
    journal: JournalSection = msgspec.field(default_factory=JournalSection)
    actors: ActorsSection = msgspec.field(default_factory=ActorsSection)
    security: SecuritySection = msgspec.field(default_factory=SecuritySection)
    auth_failures: AuthFailuresSection = msgspec.field(default_factory=AuthFailuresSection)
    market_data: MarketDataSection = msgspec.field(default_factory=MarketDataSection)
    hosts: dict[str, HostSection]
    assets: dict[str, AssetSection]
    markets: dict[str, MarketSection]
    shards: list[ShardSection]
    gateway: GatewaySection
    feed: FeedSection
    # No section: no coordinator, every actor leads alone (bourse/coordination.py).
    coordinator: CoordinatorSection | None = None


LOCAL_HOST_ENV = "BOURSE_LOCAL_HOST"


def run_on_host(host: str) -> None:
    """Say which of the config's hosts this process runs on (inherited by its children,
    such as gateway workers): its ZeroMQ links to processes on the same host then go
    over a local socket instead of tcp."""
    os.environ[LOCAL_HOST_ENV] = host


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    address: str
    port: int

    @property
    def connect(self) -> str:
        """Where to reach it: a local socket from a process of the same host, else tcp."""
        if os.environ.get(LOCAL_HOST_ENV) == self.host:
            return self.local
        return self.tcp

    @property
    def binds(self) -> tuple[str, str]:
        """Every address a process listens on: tcp for other hosts and tools, the local
        socket for its own host's processes."""
        return (self.tcp, self.local)

    @property
    def tcp(self) -> str:
        return f"tcp://{self.address}:{self.port}"

    @property
    def local(self) -> str:
        # Linux's abstract namespace: no file to create, clean up or keep short; named
        # by the tcp address, so it is unique wherever the tcp one is.
        return f"ipc://@bourse-{self.address}:{self.port}"


@dataclass(frozen=True, slots=True)
class Instance:
    """One process of an engine or a shard: the primary, or its standby.  Either may
    lead; only the leader listens on ``router`` and ``pub``, so peers that dial every
    instance reach the leader alone."""

    name: str  # the process's name: its keys, its handshake's User-Id
    router: Endpoint
    pub: Endpoint
    metrics: Endpoint | None
    repl: Endpoint | None  # where the other instance of the pair follows it

    @property
    def host(self) -> str:
        return self.router.host


Dial = list[tuple[str, str]]  # (endpoint, process name) for each instance to dial


class _Pair:
    """An engine or shard with its instances: peers dial every one, only the leader
    listens."""

    instances: tuple[Instance, ...]

    @property
    def routers(self) -> Dial:
        return [(instance.router.connect, instance.name) for instance in self.instances]

    @property
    def pubs(self) -> Dial:
        return [(instance.pub.connect, instance.name) for instance in self.instances]

    @property
    def standby(self) -> Instance | None:
        return self.instances[1] if len(self.instances) > 1 else None


@dataclass(frozen=True, slots=True)
class EngineProcess(_Pair):
    market: str
    router: Endpoint
    pub: Endpoint
    metrics: Endpoint | None
    instances: tuple[Instance, ...] = ()  # the primary, then its standby if any

    @property
    def name(self) -> str:
        return engine_name(self.market)


@dataclass(frozen=True, slots=True)
class ShardProcess(_Pair):
    shard: int
    router: Endpoint
    pub: Endpoint
    metrics: Endpoint | None
    instances: tuple[Instance, ...] = ()

    @property
    def name(self) -> str:
        return shard_name(self.shard)


@dataclass(frozen=True, slots=True)
class FeedRelay:
    """A market-data relay: it follows the engines itself and serves WebSocket clients
    and history queries.  With ``shared_ws``, other relays of its host listen on the
    same WebSocket port."""

    name: str
    router: Endpoint
    ws: Endpoint
    metrics: Endpoint | None
    shared_ws: bool = False

    @property
    def host(self) -> str:
        return self.ws.host


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    raw: ConfigFile
    assets: dict[str, int]
    markets: dict[str, Market]
    engines: dict[str, EngineProcess]
    shards: list[ShardProcess]
    gateway: Endpoint
    feed_router: Endpoint  # the first relay's
    feed_ws: Endpoint
    coordinator: CoordinatorSettings | None = None
    feed_relays: tuple[FeedRelay, ...] = ()

    @property
    def feed_routers(self) -> Dial:
        """Every relay's ROUTER, to dial: history is the same on each."""
        return [(relay.router.connect, relay.name) for relay in self.feed_relays]

    @property
    def exchange(self) -> ExchangeSection:
        return self.raw.exchange

    @property
    def journal(self) -> JournalSection:
        return self.raw.journal

    def shard_of_user(self, user_id: int) -> ShardProcess | None:
        shard = shard_of_user(user_id)
        return self.shards[shard] if 0 <= shard < len(self.shards) else None

    @property
    def security(self) -> SecuritySection:
        return self.raw.security

    @property
    def keys_dir(self) -> Path:
        return data_dir() / self.raw.security.keys_dir

    def actor_instances(self) -> list[Instance]:
        """Every engine's and shard's processes: primaries and standbys."""
        instances = [i for engine in self.engines.values() for i in engine.instances]
        return instances + [i for shard in self.shards for i in shard.instances]

    def processes(self) -> dict[str, str | None]:
        """Every process's name and the host it runs on (None for the operator's tools,
        which run wherever the operator is)."""
        placed: dict[str, str | None] = {
            instance.name: instance.host for instance in self.actor_instances()
        }
        placed[GATEWAY] = self.gateway.host
        for relay in self.feed_relays:
            placed[relay.name] = relay.host
        placed[OPERATOR] = None
        return placed


def data_dir() -> Path:
    """Where every process keeps its files: ``$BOURSE_DATA_DIR``, default ``./data``."""
    return Path(os.environ.get("BOURSE_DATA_DIR", "data"))


def load_config(path: str | os.PathLike[str]) -> Config:
    config_path = Path(path)
    try:
        text = config_path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read config {config_path}: {error.strerror}") from None
    try:
        raw = msgspec.toml.decode(text, type=ConfigFile)
    except msgspec.ValidationError as error:
        raise ConfigError(f"{config_path}: {_name_the_entry(text, error)}") from None
    except msgspec.DecodeError as error:
        raise ConfigError(f"{config_path}: not valid TOML: {error}") from None
    return _build(config_path, raw)


_KEYED_SECTIONS: dict[str, type[_Section]] = {
    "hosts": HostSection,
    "assets": AssetSection,
    "markets": MarketSection,
}


def _name_the_entry(text: bytes, error: msgspec.ValidationError) -> str:
    """msgspec says ``$.markets[...]`` for an entry of a table of tables; find which."""
    message = str(error)
    if "[...]" not in message:
        return message
    document = msgspec.toml.decode(text)
    for section, entry_type in _KEYED_SECTIONS.items():
        entries = document.get(section)
        if not isinstance(entries, dict):
            continue
        for name, value in entries.items():
            try:
                msgspec.convert(value, type=entry_type)
            except msgspec.ValidationError as entry_error:
                where = f"`$.{section}.{name}"
                text_of = str(entry_error)
                if "`$" in text_of:
                    return text_of.replace("`$", where, 1)
                return f"{text_of} - at {where}`"
    return message


def _build(path: Path, raw: ConfigFile) -> Config:
    if not raw.hosts:
        raise ConfigError("`hosts` must declare at least one host")
    assets = _assets(raw)
    markets = {name: _market(name, section, assets) for name, section in raw.markets.items()}
    if not markets:
        raise ConfigError("`markets` must declare at least one market")
    if not raw.shards:
        raise ConfigError("`shards` must declare at least one accounts shard")
    if len(raw.shards) > MAX_SHARDS:
        raise ConfigError(f"`shards` may hold at most {MAX_SHARDS} shards")
    if not 0 <= raw.exchange.max_clock_skew_ms < raw.exchange.request_timeout_ms:
        raise ConfigError(
            "`exchange.max_clock_skew_ms` must be between 0 and `exchange.request_timeout_ms`"
        )
    _check_positive("exchange.request_timeout_ms", raw.exchange.request_timeout_ms)
    _check_positive("exchange.rate_limit_per_s", raw.exchange.rate_limit_per_s)
    _check_positive("exchange.rate_limit_burst", raw.exchange.rate_limit_burst)
    _check_positive("journal.snapshot_every", raw.journal.snapshot_every)
    _check_positive("gateway.workers", raw.gateway.workers)
    _check_positive("gateway.max_body_bytes", raw.gateway.max_body_bytes)
    _check_positive("feed.send_queue", raw.feed.send_queue)
    _check_client_limits(raw)
    if not 0 <= raw.actors.busy_poll_us <= MAX_BUSY_POLL_US:
        raise ConfigError(f"`actors.busy_poll_us` must be between 0 and {MAX_BUSY_POLL_US}")
    _check_market_data(raw.market_data)
    if raw.feed.conflate_ms < 0:
        raise ConfigError("`feed.conflate_ms` must not be negative")
    key_hash = raw.exchange.admin_key_sha256
    if key_hash and not re.fullmatch(r"[0-9a-f]{64}", key_hash):
        raise ConfigError("`exchange.admin_key_sha256` must be 64 lowercase hex digits")

    endpoints = _EndpointBook(raw.hosts)
    engines = {}
    for name, market_section in raw.markets.items():
        instances = _instances(endpoints, f"markets.{name}", engine_name(name), market_section)
        primary = instances[0]
        engines[name] = EngineProcess(name, primary.router, primary.pub, primary.metrics, instances)
    shards = []
    for index, shard_section in enumerate(raw.shards):
        instances = _instances(endpoints, f"shards[{index}]", shard_name(index), shard_section)
        primary = instances[0]
        shards.append(ShardProcess(index, primary.router, primary.pub, primary.metrics, instances))
    gateway = endpoints.take("gateway", raw.gateway.host, raw.gateway.port)
    relays = _relays(endpoints, raw.feed)
    coordinator = None
    if raw.coordinator is not None:
        try:
            coordinator = coordinator_settings(raw.coordinator, raw.exchange.name)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if raw.coordinator.host and raw.coordinator.host not in raw.hosts:
            raise ConfigError(f"`coordinator.host`: unknown host {raw.coordinator.host!r}")
    for owner, pair in [*engines.items(), *((s.name, s) for s in shards)]:
        if pair.standby is not None and coordinator is None:
            raise ConfigError(
                f"`{owner}` has a standby: who leads is the coordinator's to say, so the "
                "config needs a [coordinator] section"
            )
    return Config(
        path=path,
        raw=raw,
        assets=assets,
        markets=markets,
        engines=engines,
        shards=shards,
        gateway=gateway,
        feed_router=relays[0].router,
        feed_ws=relays[0].ws,
        coordinator=coordinator,
        feed_relays=relays,
    )


def _relays(endpoints: _EndpointBook, feed: FeedSection) -> tuple[FeedRelay, ...]:
    """``[feed]`` itself as the one relay ``feed``, or each ``[[feed.relays]]`` as
    ``feed-1``, ``feed-2``, ..."""
    own = {"host": feed.host, "router_port": feed.router_port, "ws_port": feed.ws_port}
    if not feed.relays:
        for key, value in own.items():
            if not value:
                raise ConfigError(f"`feed.{key}` is needed (or a [[feed.relays]] per relay)")
        one = RelaySection(feed.host, feed.router_port, feed.ws_port, feed.metrics_port)
        return (_relay(endpoints, "feed", FEED, one, shared=False),)
    set_here = [key for key, value in {**own, "metrics_port": feed.metrics_port}.items() if value]
    if set_here:
        raise ConfigError(
            f"`feed.{set_here[0]}`: with [[feed.relays]], each relay says where it runs"
        )
    ws_ports = [(relay.host, relay.ws_port) for relay in feed.relays]
    return tuple(
        _relay(
            endpoints,
            f"feed.relays[{index}]",
            relay_name(index + 1),
            relay,
            shared=ws_ports.count((relay.host, relay.ws_port)) > 1,
        )
        for index, relay in enumerate(feed.relays)
    )


def _relay(
    endpoints: _EndpointBook, where: str, name: str, section: RelaySection, shared: bool
) -> FeedRelay:
    return FeedRelay(
        name=name,
        router=endpoints.take(where, section.host, section.router_port),
        ws=endpoints.take(where, section.host, section.ws_port, shared="feed-ws"),
        metrics=endpoints.take_optional(where, section.host, section.metrics_port),
        shared_ws=shared,
    )


def _instances(
    endpoints: _EndpointBook, owner: str, name: str, section: MarketSection | ShardSection
) -> tuple[Instance, ...]:
    """The primary at ``section``'s own host and ports, and its standby if it names one."""
    standby = section.standby
    if standby is not None and not section.repl_port:
        raise ConfigError(f"`{owner}.repl_port` is needed: its standby follows it there")
    placed: list[tuple[str, str, str, MarketSection | ShardSection | StandbySection]] = [
        (owner, name, section.host, section)
    ]
    if standby is not None:
        placed.append((f"{owner}.standby", standby_name(name), standby.host, standby))
    instances = []
    for where, process, host, ports in placed:
        instances.append(
            Instance(
                name=process,
                router=endpoints.take(where, host, ports.router_port),
                pub=endpoints.take(where, host, ports.pub_port),
                metrics=endpoints.take_optional(where, host, ports.metrics_port),
                repl=endpoints.take_optional(where, host, ports.repl_port),
            )
        )
    return tuple(instances)


def _assets(raw: ConfigFile) -> dict[str, int]:
    assets: dict[str, int] = {}
    for name, section in raw.assets.items():
        if not _ASSET_NAME.fullmatch(name):
            raise ConfigError(f"`assets.{name}`: an asset name is 2-12 capitals or digits")
        if not 0 <= section.decimals <= 18:
            raise ConfigError(f"`assets.{name}.decimals` must be between 0 and 18")
        assets[name] = section.decimals
    return assets


def _market(name: str, section: MarketSection, assets: dict[str, int]) -> Market:
    where = f"markets.{name}"
    if not _MARKET_NAME.fullmatch(name):
        raise ConfigError(f"`{where}`: a market name is BASE-QUOTE in capitals")
    for role in ("base", "quote"):
        asset = getattr(section, role)
        if asset not in assets:
            raise ConfigError(f"`{where}.{role}`: unknown asset {asset!r}")
    if name != f"{section.base}-{section.quote}":
        raise ConfigError(f"`{where}`: the name must be {section.base}-{section.quote}")
    base_decimals, quote_decimals = assets[section.base], assets[section.quote]
    tick = _units(f"{where}.tick", section.tick, quote_decimals)
    lot = _units(f"{where}.lot", section.lot, base_decimals)
    if (tick * lot) % 10**base_decimals:
        raise ConfigError(
            f"`{where}`: tick x lot must be a whole number of {section.quote} units "
            "so that every notional is exact"
        )
    min_notional = _units(f"{where}.min_notional", section.min_notional, quote_decimals)
    maker_fee = _fee(f"{where}.maker_fee", section.maker_fee)
    taker_fee = _fee(f"{where}.taker_fee", section.taker_fee)
    return Market(
        name=name,
        base=section.base,
        quote=section.quote,
        base_decimals=base_decimals,
        quote_decimals=quote_decimals,
        # Places as written, for display, but never more than the asset has: "0.0100000"
        # is a valid tick of a 6-decimal asset (its value fits), and shows 6 places.
        price_decimals=min(decimals_of(section.tick), quote_decimals),
        qty_decimals=min(decimals_of(section.lot), base_decimals),
        tick=tick,
        lot=lot,
        min_notional=min_notional,
        maker_fee_ppm=maker_fee,
        taker_fee_ppm=taker_fee,
    )


def _units(key: str, text: str, decimals: int) -> int:
    try:
        return parse_units(text, decimals, field=key)
    except AmountError as error:
        raise ConfigError(f"`{key}`: {error.message} ({error.code})") from None


def _fee(key: str, text: str) -> int:
    try:
        ppm = parse_units(text, 6, field=key, positive=False)
    except AmountError as error:
        raise ConfigError(f"`{key}`: {error.message} ({error.code})") from None
    if ppm >= FEE_SCALE:
        raise ConfigError(f"`{key}` must be below 1")
    return ppm


def _check_positive(key: str, value: float) -> None:
    if not value > 0 or not math.isfinite(value):
        raise ConfigError(f"`{key}` must be greater than zero")


MIN_HEADER_BYTES = 1024
_CLIENT_LIMITS = (
    "gateway.max_header_bytes",
    "gateway.max_headers",
    "gateway.header_timeout_ms",
    "gateway.body_timeout_ms",
    "gateway.keepalive_timeout_ms",
    "gateway.max_connections",
    "gateway.max_connections_per_address",
    "gateway.max_json_depth",
    "gateway.signup_per_s",
    "gateway.signup_burst",
    "gateway.admin_per_s",
    "gateway.admin_burst",
    "gateway.ws_max_message_bytes",
    "gateway.ws_max_in_flight",
    "gateway.ws_max_refusals",
    "gateway.ws_ping_interval_ms",
    "feed.max_message_bytes",
    "feed.max_message_depth",
    "feed.max_connections",
    "feed.max_connections_per_address",
    "feed.slow_close_timeout_ms",
    "feed.auth_per_s",
    "feed.auth_burst",
    "auth_failures.block_after",
    "auth_failures.delay_ms",
    "auth_failures.block_ms",
    "auth_failures.forget_ms",
)


def _check_client_limits(raw: ConfigFile) -> None:
    """What the gateway and the feed accept from clients: every limit is set and sane."""
    for path in _CLIENT_LIMITS:
        table, key = path.split(".")
        _check_positive(path, getattr(getattr(raw, table), key))
    gateway, feed, failures = raw.gateway, raw.feed, raw.auth_failures
    if gateway.max_header_bytes < MIN_HEADER_BYTES:
        raise ConfigError(f"`gateway.max_header_bytes` must be at least {MIN_HEADER_BYTES}")
    if failures.slow_after < 0:
        raise ConfigError("`auth_failures.slow_after` must not be negative")
    for index, proxy in enumerate(gateway.trusted_proxies):
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(
                f"`gateway.trusted_proxies[{index}]`: {proxy!r} is not an IP address or CIDR block"
            ) from None
    for name, limits in (("gateway", gateway), ("feed", feed)):
        if limits.max_connections_per_address > limits.max_connections:
            raise ConfigError(
                f"`{name}.max_connections_per_address` must not exceed `{name}.max_connections`"
            )


def _check_market_data(section: MarketDataSection) -> None:
    if section.retain_trades < 0:
        raise ConfigError("`market_data.retain_trades` must not be negative")
    _check_positive("market_data.heartbeat_ms", section.heartbeat_ms)
    if section.stale_after_ms < 2 * section.heartbeat_ms:
        raise ConfigError(
            "`market_data.stale_after_ms` must be at least twice `market_data.heartbeat_ms`: "
            "one late heartbeat must not make a market stale"
        )


class _EndpointBook:
    """Hands out endpoints, refusing unknown hosts and two processes on one endpoint."""

    def __init__(self, hosts: dict[str, HostSection]) -> None:
        self._hosts = hosts
        self._taken: dict[tuple[str, int], tuple[str, str]] = {}

    def take(self, owner: str, host: str, port: int, shared: str = "") -> Endpoint:
        """The endpoint; ``shared`` names a kind of socket that processes may listen on
        together (relays' WebSocket ports, with SO_REUSEPORT)."""
        if host not in self._hosts:
            raise ConfigError(f"`{owner}.host`: unknown host {host!r}")
        if not 1 <= port <= 65535:
            raise ConfigError(f"`{owner}`: port {port} is not between 1 and 65535")
        address = self._hosts[host].address
        taken = self._taken.get((address, port))
        if taken is not None and not (shared and taken[1] == shared):
            raise ConfigError(f"`{owner}` and `{taken[0]}` both use {address}:{port}")
        self._taken[(address, port)] = (owner, shared)
        return Endpoint(host=host, address=address, port=port)

    def take_optional(self, owner: str, host: str, port: int) -> Endpoint | None:
        return self.take(owner, host, port) if port else None
