"""The configuration file (``/etc/memwarden/config.yaml`` or ``--config``) and how it meets the
command-line flags.

Every key of the file holds what a flag holds; a flag given on the command line wins over the
file, the file over the built-in default. A bad value is a :class:`ConfigError` naming the file
and the key (``config.yaml: outputs[1]: ...``). ``memwarden config show`` prints the effective
configuration; SIGHUP re-reads the file (:mod:`memwarden.app.operations`).

No argument parsing here: the command line hands the flags the user gave as plain data (setting
name -> the flag's value, :class:`SettingsSource`), so that a reload can lay the same flags over
the re-read file.

Keys::

    format: tracee                  # --format: tracee, tracee-v1beta1, falco, table
    outputs: [stdout]               # --output (repeatable); an entry may be a mapping
                                    #   {output: SPEC, format: NAME}
    rules: []                       # --rules (Falco rules files)
    allowlists: []                  # --allowlist (repeatable)
    signatures:
      enabled: []                   # --enable: only these (IDs or event names); empty = all
      disabled: []                  # --disable
      origins: {}                   # --origin NAME=ORIGIN, as a mapping NAME: ORIGIN
    metrics:
      addr: ""                      # --metrics-addr HOST:PORT ("" = off)
    stats: false                    # --stats
    delivery:                       # network outputs (syslog, http)
      queue_size: 1000              # findings waiting per output before drops
      retries: 3                    # attempts after the first failure
      timeout: 5.0                  # seconds per attempt
      flush_timeout: 5.0            # seconds to flush at exit (SIGTERM, SIGINT, end of input)
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from memwarden.core.event import ORIGINS
from memwarden.outputs.base import Delivery
from memwarden.outputs.formats import FORMAT_NAMES

DEFAULT_PATH = "/etc/memwarden/config.yaml"
#: environment variable naming a config file (the systemd unit and containers may set it)
ENV_PATH = "MEMWARDEN_CONFIG"

__all__ = ["ConfigError", "Delivery", "FLAG_OF", "Settings", "SettingsSource", "load_settings",
           "merge_flags", "parse_settings"]


class ConfigError(ValueError):
    """A configuration file cannot be read or holds a bad value; names file and key."""


@dataclass
class Settings:
    """The effective configuration (defaults, then the file, then the flags)."""

    format: str = "tracee"
    outputs: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    allowlists: list[str] = field(default_factory=list)
    enabled: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    origins: dict[str, str] = field(default_factory=dict)
    metrics_addr: str = ""
    stats: bool = False
    delivery: Delivery = field(default_factory=Delivery)
    source: str | None = None  # the file it came from, if any

    def as_yaml_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "outputs": list(self.outputs) or ["stdout"],
            "rules": list(self.rules),
            "allowlists": list(self.allowlists),
            "signatures": {"enabled": list(self.enabled), "disabled": list(self.disabled),
                           "origins": dict(self.origins)},
            "metrics": {"addr": self.metrics_addr},
            "stats": self.stats,
            "delivery": {"queue_size": self.delivery.queue_size,
                         "retries": self.delivery.retries, "timeout": self.delivery.timeout,
                         "flush_timeout": self.delivery.flush_timeout},
        }

    def to_yaml(self) -> str:
        head = f"# effective configuration (file: {self.source or 'none'})\n"
        return head + yaml.safe_dump(self.as_yaml_dict(), sort_keys=False)


# -- reading ----------------------------------------------------------------------------------

class _Reader:
    """Validates one mapping; every error names the file and the dotted key."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"{self.where}: {key}: {what}")

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {_kind(value)}")
        return value

    def known(self, d: dict[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        for k in d:
            if k not in allowed:
                prefix = f"{key}." if key else ""
                raise self.fail(f"{prefix}{k}", f"unknown key (known: {', '.join(allowed)})")

    def string(self, value: Any, key: str, choices: tuple[str, ...] = ()) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"expected a string, got {_kind(value)}")
        if choices and value not in choices:
            raise self.fail(key, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def strings(self, value: Any, key: str) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list of strings, got {_kind(value)}")
        return [self.string(v, f"{key}[{i}]") for i, v in enumerate(value)]

    def number(self, value: Any, key: str, *, integer: bool, minimum: float) -> Any:
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            raise self.fail(key, f"expected {'an integer' if integer else 'a number'}, "
                                 f"got {_kind(value)}")
        if value < minimum:
            raise self.fail(key, f"must be at least {minimum:g}, got {value}")
        return value

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {_kind(value)}")
        return value


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "nothing"}.get(
        type(value), type(value).__name__) + (f" ({value!r})" if isinstance(
            value, int | float | str) and not isinstance(value, bool) else "")


TOP_KEYS = ("format", "outputs", "rules", "allowlists", "signatures", "metrics", "stats",
            "delivery")


def parse_settings(data: Any, where: str) -> Settings:
    """Validate a decoded YAML document into :class:`Settings`."""
    from memwarden.app.metrics import MetricsAddressError, parse_addr
    from memwarden.outputs.base import OutputSpecError
    from memwarden.outputs.registry import parse_output

    r = _Reader(where)
    top = r.mapping(data, "(top level)")
    r.known(top, "", TOP_KEYS)
    s = Settings(source=where)
    if "format" in top:
        s.format = r.string(top["format"], "format", FORMAT_NAMES)
    outputs = top.get("outputs")
    if outputs is not None:
        if isinstance(outputs, str | dict):
            outputs = [outputs]
        if not isinstance(outputs, list):
            raise r.fail("outputs", f"expected a list, got {_kind(outputs)}")
        for i, item in enumerate(outputs):
            key = f"outputs[{i}]"
            if isinstance(item, dict):
                r.known(item, key, ("output", "format"))
                if "output" not in item:
                    raise r.fail(key, "a mapping needs 'output: SPEC'")
                spec = r.string(item["output"], f"{key}.output")
                if "format" in item:
                    spec = f"{r.string(item['format'], f'{key}.format', FORMAT_NAMES)}:{spec}"
            else:
                spec = r.string(item, key)
            try:
                parse_output(spec)
            except OutputSpecError as exc:
                raise r.fail(key, str(exc)) from None
            s.outputs.append(spec)
    s.rules = r.strings(top.get("rules"), "rules")
    s.allowlists = r.strings(top.get("allowlists"), "allowlists")
    sigs = r.mapping(top.get("signatures"), "signatures")
    r.known(sigs, "signatures", ("enabled", "disabled", "origins"))
    s.enabled = r.strings(sigs.get("enabled"), "signatures.enabled")
    s.disabled = r.strings(sigs.get("disabled"), "signatures.disabled")
    origins = r.mapping(sigs.get("origins"), "signatures.origins")
    for name, origin in origins.items():
        s.origins[str(name)] = r.string(origin, f"signatures.origins.{name}", ORIGINS)
    _check_signature_names(r, s)
    metrics = r.mapping(top.get("metrics"), "metrics")
    r.known(metrics, "metrics", ("addr",))
    if metrics.get("addr"):
        s.metrics_addr = r.string(metrics["addr"], "metrics.addr")
        try:
            parse_addr(s.metrics_addr)
        except MetricsAddressError as exc:
            raise r.fail("metrics.addr", str(exc)) from None
    if "stats" in top:
        s.stats = r.boolean(top["stats"], "stats")
    delivery = r.mapping(top.get("delivery"), "delivery")
    r.known(delivery, "delivery", ("queue_size", "retries", "timeout", "flush_timeout"))
    d = s.delivery
    if "queue_size" in delivery:
        d.queue_size = r.number(delivery["queue_size"], "delivery.queue_size", integer=True,
                                minimum=1)
    if "retries" in delivery:
        d.retries = r.number(delivery["retries"], "delivery.retries", integer=True, minimum=0)
    if "timeout" in delivery:
        d.timeout = float(r.number(delivery["timeout"], "delivery.timeout", integer=False,
                                   minimum=0.001))
    if "flush_timeout" in delivery:
        d.flush_timeout = float(r.number(delivery["flush_timeout"], "delivery.flush_timeout",
                                         integer=False, minimum=0))
    return s


def _check_signature_names(r: _Reader, s: Settings) -> None:
    from memwarden.signatures import UnknownSignatureError, find_signature

    for key, names in (("signatures.enabled", s.enabled), ("signatures.disabled", s.disabled),
                       ("signatures.origins", list(s.origins))):
        for name in names:
            try:
                find_signature(name)
            except UnknownSignatureError as exc:
                raise r.fail(key, str(exc)) from None


def load_settings(path: str | os.PathLike[str] | None, *, required: bool = True) -> Settings:
    """Read and validate a config file; ``None`` means the default file if it exists (else
    built-in defaults). ``required``: a missing explicit file is an error."""
    if path is None:
        path = os.environ.get(ENV_PATH)  # named explicitly: must exist
        if not path:
            path = DEFAULT_PATH
            if not Path(path).exists():
                return Settings()
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        if not required:
            return Settings()
        raise ConfigError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read: {getattr(exc, 'strerror', None) or exc}") \
            from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}{at}: not valid YAML: {problem}") from None
    return parse_settings(data, where)


# -- meeting the flags ------------------------------------------------------------------------

#: setting -> (the flag that holds it, how the setting becomes that flag's value)
FLAG_OF: dict[str, tuple[str, Callable[[Settings], Any]]] = {
    "format": ("--format", lambda s: s.format),
    "outputs": ("--output", lambda s: tuple(s.outputs)),
    "rules": ("--rules", lambda s: tuple(s.rules)),
    "allowlists": ("--allowlist", lambda s: tuple(s.allowlists)),
    "enabled": ("--enable", lambda s: tuple(s.enabled)),
    "disabled": ("--disable", lambda s: tuple(s.disabled)),
    "origins": ("--origin", lambda s: tuple(f"{k}={v}" for k, v in s.origins.items())),
    "metrics_addr": ("--metrics-addr", lambda s: s.metrics_addr or None),
    "stats": ("--stats", lambda s: s.stats),
}


def merge_flags(settings: Settings, given: Mapping[str, Any]) -> Settings:
    """The settings with the flags given on the command line (``given``: setting name ->
    the flag's value, as :data:`FLAG_OF` writes it) laid over them. Raises
    :class:`ConfigError` for an ``--origin`` value that is not ``NAME=ORIGIN``."""
    s = copy.deepcopy(settings)
    for name, value in given.items():
        if name == "origins":
            s.origins.update(parse_origin_flags(value))
        elif name == "metrics_addr":
            s.metrics_addr = value or ""
        elif isinstance(value, tuple | list):
            setattr(s, name, list(value))
        else:
            setattr(s, name, value)
    return s


def parse_origin_flags(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``--origin NAME=ORIGIN`` values as a mapping; raises :class:`ConfigError`."""
    from memwarden.signatures import UnknownSignatureError, find_signature

    origins: dict[str, str] = {}
    for item in values:
        name, sep, origin = item.partition("=")
        if not sep or origin not in ORIGINS:
            raise ConfigError(f"--origin {item!r}: expected NAME=ORIGIN, ORIGIN one of "
                              f"{', '.join(ORIGINS)}")
        try:
            find_signature(name)
        except UnknownSignatureError as exc:
            raise ConfigError(f"--origin {item!r}: {exc}") from None
        origins[name] = origin
    return origins


#: the config file key of a setting, where it is not the setting's name
CONFIG_KEY = {"enabled": "signatures.enabled", "disabled": "signatures.disabled",
              "origins": "signatures.origins", "metrics_addr": "metrics.addr"}


@dataclass(frozen=True)
class SettingsSource:
    """Where a command's settings come from: the config file it names (None: ``$MEMWARDEN_CONFIG``
    or the default path) and the flags the user gave (setting name -> value, as
    :data:`FLAG_OF` writes it). ``supported``: the settings the command has a flag for; a file
    that sets another one is an error (naming the command). :meth:`load` reads it all again,
    which is what a reload does."""

    command: str
    config_path: str | None = None
    given: Mapping[str, Any] = field(default_factory=dict)
    supported: frozenset[str] = frozenset(FLAG_OF)

    def load(self) -> Settings:
        """The file's settings with the given flags over them; raises :class:`ConfigError`."""
        file_settings = load_settings(self.config_path)
        defaults = Settings()
        for name, (flag, value_of) in FLAG_OF.items():
            if name not in self.supported and value_of(file_settings) != value_of(defaults):
                raise ConfigError(f"{file_settings.source}: {CONFIG_KEY.get(name, name)}: not "
                                  f"supported by 'memwarden {self.command}' ({flag} is not one "
                                  f"of its options)")
        return merge_flags(file_settings, self.given)
