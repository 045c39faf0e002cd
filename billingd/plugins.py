"""The plugin host (SPEC §11): loads plugins and calls their hooks through pluggy.

Plugins are found through the ``billingd`` entry-point group; the built-in plugins
(:data:`BUILTIN_PLUGINS`) are registered last from their module names, so they also
work from a source checkout. Operators choose what loads and what is logged:

``plugins.enabled`` in the config, or ``$BILLINGD_PLUGINS`` (which wins when set)
    the allowlist: comma-separated entry-point names to load (empty: none). Built-in
    plugins are always loaded.
``plugins.trace: true``, or ``$BILLINGD_TRACE_PLUGINS=1`` (``0`` turns it off)
    log every hook call (the plugins called, in order) and its outcome to the
    ``billingd.plugins`` logger. A reload (SIGHUP) applies a changed ``plugins.trace``.

Every hook is called through pluggy's own dispatch (``manager.hook.<name>``), so
``tryfirst``/``trylast``, ``firstresult`` and hook wrappers (``wrapper=True``) work
as pluggy documents them. The hooks whose failures must stay contained — start-up,
settings, registries and event listeners — are called plugin by plugin through
``manager.subset_hook_caller`` (each plugin with every other plugin's wrappers
around it): one plugin's exception is logged with its name and the others are
still called. ``rate_usage`` is one ``firstresult`` call; a failure there is the
caller's to report, as a :class:`PluginError` naming the plugin.
"""

from __future__ import annotations

import importlib
import logging
import os
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

import pluggy

import billingd
from billingd import hookspecs
from billingd.config import is_secret_key
from billingd.errors import BillingError, NotFound, ValidationError
from billingd.money import D, MoneyError
from billingd.rendering import Renderer

logger = logging.getLogger("billingd.plugins")

ENTRY_POINT_GROUP = "billingd"
BUILTIN_PLUGINS = (
    "billingd_plugins.pdf",
    "billingd_plugins.manual",
    "billingd_plugins.sandbox",
    "billingd_plugins.email",
    "billingd_plugins.uploaders",
    "billingd_plugins.webhook",
)
ALLOWLIST_ENV = "BILLINGD_PLUGINS"
TRACE_ENV = "BILLINGD_TRACE_PLUGINS"
# what a register_* hook registers, as ``registers`` of plugin_list() names it
KINDS = ("renderer", "gateway", "notifier", "uploader")


def _is_decimal(value: Any) -> bool:
    try:
        D(value)
    except MoneyError:
        return False
    return True


# The type names a plugin may use in plugin_settings_schema().
SETTING_TYPES: dict[str, Callable[[Any], bool]] = {
    "str": lambda value: isinstance(value, str),
    "int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "bool": lambda value: isinstance(value, bool),
    "decimal": _is_decimal,
    "list": lambda value: isinstance(value, list),
    "dict": lambda value: isinstance(value, dict),
}
# register_* hook -> (what it registers, the methods each object must have).
_REGISTRIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "register_renderers": ("renderer", ("render",)),
    "register_gateways": ("gateway", ("charge", "refund")),
    "register_notifiers": ("notifier", ("wants", "notify")),
    "register_uploaders": ("uploader", ("upload",)),
}


class PluginError(BillingError):
    """A plugin misbehaved; ``plugin`` names it."""

    reason = "plugin"


@runtime_checkable
class Gateway(Protocol):
    """A payment gateway; ``name`` is unique among loaded gateways (``"sandbox"``).

    Amounts are decimal strings. The same ``idempotency_key`` must never charge or
    refund twice. Both methods return the gateway's outcome as a JSON-compatible dict.
    """

    name: str

    def charge(
        self, invoice: dict[str, Any], amount: str, idempotency_key: str
    ) -> dict[str, Any]: ...

    def refund(
        self, payment: dict[str, Any], amount: str, idempotency_key: str
    ) -> dict[str, Any]: ...


class PermanentFailure(Exception):
    """Raised by a notifier or uploader when retrying cannot help (a refused recipient,
    a rejected document): the outbox marks the delivery failed for good."""


@runtime_checkable
class Notifier(Protocol):
    """Told of billing events after their commit (R-DEL-5); ``name`` is unique.

    ``wants(event_name)`` says which events to queue for it (asked inside the
    transaction: keep it cheap and pure). ``notify(event)`` delivers one: ``event``
    is ``{"id", "name", "at", "payload"}`` with a unique ``id``. Returning means
    delivered; an exception means try again later (backoff), and
    :class:`PermanentFailure` means give up. It may be called again for the same
    event after a crash, so a receiver should drop repeated ids.
    """

    name: str

    def wants(self, event_name: str) -> bool: ...

    def notify(self, event: dict[str, Any]) -> None: ...


@runtime_checkable
class Uploader(Protocol):
    """Delivers an invoice's documents to a customer's portal (R-DEL-4, seed 004).

    ``upload(delivery)`` receives ``{"invoice": <invoice object>, "documents":
    [{"format", "filename", "content_type", "data": bytes}], "custom_fields": {...},
    "settings": {...}, "message_id": str}``; the message id is the same on every retry
    of one delivery. It returns a JSON-compatible receipt (or None); exceptions are
    handled as for notifiers.
    """

    name: str

    def upload(self, delivery: dict[str, Any]) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class _Origin:
    version: str | None
    builtin: bool


def _allowlist(enabled: Iterable[str] | str | None) -> frozenset[str] | None:
    if isinstance(enabled, str):
        enabled = enabled.split(",")
    if enabled is None:
        raw = os.environ.get(ALLOWLIST_ENV)
        if raw is None:
            return None
        enabled = raw.split(",")
    return frozenset(name.strip() for name in enabled if name.strip())


def _trace_from_environment() -> bool | None:
    raw = os.environ.get(TRACE_ENV)
    if raw is None or not raw.strip():
        return None
    return raw.strip().lower() not in ("0", "false", "no", "off")


def configured(plugins_config: Mapping[str, Any]) -> tuple[list[str] | None, bool]:
    """The allowlist and trace switch a daemon uses: the environment wins over the config.

    :param plugins_config: the config's ``plugins`` mapping (``enabled``, ``trace``).
    :return: ``(enabled, trace)``; ``enabled`` None means every installed plugin.
    """
    raw = os.environ.get(ALLOWLIST_ENV)
    if raw is not None:
        enabled: list[str] | None = [n.strip() for n in raw.split(",") if n.strip()]
    else:
        configured_names = plugins_config.get("enabled")
        enabled = None if configured_names is None else list(configured_names)
    trace = _trace_from_environment()
    if trace is None:
        trace = bool(plugins_config.get("trace", False))
    return enabled, trace


def _code_of(function: Any) -> types.CodeType | None:
    function = getattr(function, "__func__", function)
    code = getattr(function, "__code__", None)
    return code if isinstance(code, types.CodeType) else None


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class PluginHost:
    """A pluggy manager for the ``billingd`` hooks, plus the registries plugins fill.

    Build one with :func:`load_plugins`; tests may start from an empty ``PluginHost()``
    and :meth:`register` plugins themselves.
    """

    def __init__(
        self, settings: Mapping[str, Any] | None = None, *, trace: bool | None = None
    ) -> None:
        self._pm = pluggy.PluginManager("billingd")
        self._pm.add_hookspecs(hookspecs)
        self._settings: dict[str, Any] = dict(settings or {})
        self._origins: dict[str, _Origin] = {}
        self._registries: dict[str, dict[str, Any]] = {}
        self._owners: dict[str, dict[str, str]] = {}  # hook -> registered name -> plugin
        self._started = False
        self._untrace: Callable[[], None] | None = None
        self.load_errors: dict[str, str] = {}
        self.allowlist: frozenset[str] | None = None
        """The entry-point names :meth:`load` was allowed to load (None: all)."""
        if trace is None:
            trace = bool(_trace_from_environment())
        self.set_trace(trace)

    @property
    def manager(self) -> pluggy.PluginManager:
        """The pluggy manager; register through :meth:`register` so registries stay current."""
        return self._pm

    @property
    def settings(self) -> dict[str, Any]:
        """A copy of the ``plugins.settings`` mapping in force."""
        return {name: dict(values) for name, values in self._settings.items()}

    # -- tracing ---------------------------------------------------------------------------

    @property
    def tracing(self) -> bool:
        return self._untrace is not None

    def set_trace(self, on: bool) -> None:
        """Log every hook call and its outcome to ``billingd.plugins`` (or stop)."""
        if on and self._untrace is None:
            self._untrace = self._pm.add_hookcall_monitoring(self._before, self._after)
        elif not on and self._untrace is not None:
            self._untrace()
            self._untrace = None

    @staticmethod
    def _names(impls: Sequence[pluggy.HookImpl]) -> str:
        """The plugins of a call in pluggy's order; wrappers marked ``(wrapper)``."""
        return ", ".join(
            impl.plugin_name + (" (wrapper)" if impl.wrapper or impl.hookwrapper else "")
            for impl in reversed(impls)
        )

    def _before(
        self, hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]
    ) -> None:
        logger.info("%s -> %s(%s)", self._names(impls) or "(none)", hook_name, ", ".join(kwargs))

    def _after(
        self,
        outcome: pluggy.Result[Any],
        hook_name: str,
        impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, Any],
    ) -> None:
        if outcome.exception is not None:
            exc = outcome.exception
            logger.info("%s raised %s: %s", hook_name, type(exc).__name__, exc)
        else:
            logger.info("%s returned %s", hook_name, _short(outcome.get_result()))

    # -- loading ---------------------------------------------------------------------------

    def load(self, enabled: Iterable[str] | str | None = None) -> None:
        """Register entry-point plugins (honouring the allowlist), then the built-ins.

        A plugin that fails to import or register is logged and recorded in
        :attr:`load_errors`; the others still load. Raises :class:`PluginError` when
        plugins register invalid or clashing renderers or gateways, and
        :class:`ValidationError` when ``plugins.settings`` does not match the schemas.
        """
        allowed = self.allowlist = _allowlist(enabled)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.module in BUILTIN_PLUGINS:
                continue
            if allowed is not None and ep.name not in allowed:
                logger.debug("plugin %r not in the allowlist; skipped", ep.name)
                continue
            try:
                version = ep.dist.version if ep.dist else None
                self._register(ep.load(), ep.name, _Origin(version, builtin=False))
            except Exception as exc:
                logger.exception("cannot load plugin %r (%s)", ep.name, ep.value)
                self.load_errors[ep.name] = f"{type(exc).__name__}: {exc}"
        for name in sorted((allowed or frozenset()) - set(self.plugin_names())):
            if name not in self.load_errors:
                logger.warning("the allowlist names %r, but no such plugin is installed", name)
        for module_name in BUILTIN_PLUGINS:
            module = importlib.import_module(module_name)
            if not self._pm.is_registered(module):
                origin = _Origin(billingd.__version__, builtin=True)
                self._register(module, module_name.rpartition(".")[2], origin)
        self._refresh()
        problems = self.check_settings()
        if problems:
            raise ValidationError(
                "invalid plugin settings:\n" + "\n".join(problems), field="plugins.settings"
            )
        self._started = True
        self._call_each("startup", host=self)
        self._registries.clear()  # what a plugin registers may follow its settings

    def register(self, plugin: object, name: str) -> None:
        """Register a plugin object (a module or any object with hookimpls) under ``name``.

        Raises :class:`PluginError` (and leaves nothing registered) when the plugin
        implements an unknown hook or registers an invalid or clashing renderer. A
        plugin registered after :meth:`load` gets its ``startup`` call at once.
        """
        self._register(plugin, name, _Origin(None, builtin=False))
        try:
            self._refresh()
        except PluginError:
            self.unregister(name)
            raise
        if self._started:
            self._call_each("startup", only=name, host=self)
            self._registries.clear()

    def unregister(self, name: str) -> None:
        """Remove a registered plugin; raises :class:`NotFound` for an unknown name."""
        if self._pm.get_plugin(name) is None:
            raise NotFound(f"no plugin {name!r} is registered", plugin=name)
        self._pm.unregister(name=name)
        self._origins.pop(name, None)
        self._registries.clear()

    def _register(self, plugin: object, name: str, origin: _Origin) -> None:
        try:
            hash(plugin)  # pluggy's subset_hook_caller keeps plugins in sets
        except TypeError:
            raise PluginError(
                f"cannot register plugin {name!r}: a plugin object must be hashable "
                f"({type(plugin).__name__} defines __eq__ without __hash__)",
                plugin=name,
            ) from None
        try:
            self._pm.register(plugin, name=name)
        except (ValueError, TypeError, pluggy.PluginValidationError) as exc:
            raise PluginError(f"cannot register plugin {name!r}: {exc}", plugin=name) from None
        unknown = sorted(
            caller.name
            for caller in self._pm.get_hookcallers(plugin) or ()
            if not caller.has_spec()
            and any(i.plugin is plugin and not i.optionalhook for i in caller.get_hookimpls())
        )
        if unknown:
            self._pm.unregister(name=name)
            raise PluginError(
                f"plugin {name!r} implements unknown hooks: {', '.join(unknown)}", plugin=name
            )
        self._origins[name] = origin
        self._registries.clear()

    # -- calling hooks ---------------------------------------------------------------------

    def _callers(
        self, hook_name: str, only: str | None = None
    ) -> Iterator[tuple[str, pluggy.HookCaller]]:
        """``(plugin name, hook caller for that plugin alone)`` in pluggy's call order.

        Each caller is pluggy's ``subset_hook_caller`` without the other plugins that
        implement the hook, so the wrappers of plugins that only wrap it still apply.
        """
        impls = getattr(self._pm.hook, hook_name).get_hookimpls()
        plain = [impl.plugin for impl in reversed(impls) if not (impl.wrapper or impl.hookwrapper)]
        ordered = [p for i, p in enumerate(plain) if all(p is not q for q in plain[:i])]
        for plugin in ordered:
            name = self._pm.get_name(plugin)
            if name is None or (only is not None and name != only):
                continue
            others = [p for p in ordered if p is not plugin]
            yield name, self._pm.subset_hook_caller(hook_name, remove_plugins=others)

    def _culprit(self, exc: BaseException, hook_name: str, default: str) -> str:
        """The plugin whose implementation of ``hook_name`` (or wrapper) raised ``exc``:
        the innermost of their frames in its traceback."""
        codes = {
            code: impl.plugin_name
            for impl in getattr(self._pm.hook, hook_name).get_hookimpls()
            if (code := _code_of(impl.function)) is not None
        }
        culprit, tb = default, exc.__traceback__
        while tb is not None:
            culprit = codes.get(tb.tb_frame.f_code, culprit)
            tb = tb.tb_next
        return culprit

    def _call_each(
        self,
        hook_name: str,
        *,
        only: str | None = None,
        **kwargs: Any,
    ) -> list[tuple[str, Any]]:
        """Call a hook plugin by plugin; ``(plugin name, result)`` pairs, failures logged."""
        results = []
        for name, call in self._callers(hook_name, only):
            try:
                answers = call(**kwargs)
            except Exception as exc:
                culprit = self._culprit(exc, hook_name, name)
                logger.exception("plugin %r failed in %s", culprit, hook_name)
                continue
            results.append((name, answers[0] if answers else None))
        return results

    def _collect(self, hook_name: str) -> tuple[dict[str, Any], dict[str, str]]:
        """Run a ``register_*`` hook; validate what each plugin registers."""
        kind, methods = _REGISTRIES[hook_name]
        found: dict[str, Any] = {}
        owners: dict[str, str] = {}
        problems: list[str] = []
        culprits: set[str] = set()
        plugin = ""

        def register(obj: Any) -> None:
            name = getattr(obj, "name", None)
            missing = [m for m in methods if not callable(getattr(obj, m, None))]
            if not isinstance(name, str) or not name.strip():
                problem = f"registered a {kind} without a name: {obj!r}"
            elif missing:
                problem = f"registered {kind} {name!r} without " + ", ".join(
                    f"{m}()" for m in missing
                )
            elif name in found:
                culprits.add(owners[name])
                problem = f"and plugin {owners[name]!r} both register {kind} {name!r}"
            else:
                found[name] = obj
                owners[name] = plugin
                return
            problems.append(f"plugin {plugin!r} {problem}")
            culprits.add(plugin)

        for plugin, call in self._callers(hook_name):
            try:
                call(register=register)
            except Exception as exc:
                culprit = self._culprit(exc, hook_name, plugin)
                logger.exception("plugin %r failed in %s", culprit, hook_name)
        if problems:
            raise PluginError("; ".join(problems), plugins=sorted(culprits))
        return found, owners

    def _registry(self, hook_name: str) -> dict[str, Any]:
        if hook_name not in self._registries:
            found, owners = self._collect(hook_name)
            self._registries[hook_name], self._owners[hook_name] = found, owners
        return self._registries[hook_name]

    def _refresh(self) -> None:
        self._registries.clear()
        for hook_name in _REGISTRIES:
            self._registry(hook_name)

    # -- what plugins provide --------------------------------------------------------------

    def renderers(self) -> dict[str, Renderer]:
        """Every registered renderer by name."""
        return dict(self._registry("register_renderers"))

    def renderer(self, name: str) -> Renderer:
        """The renderer called ``name``; raises :class:`NotFound`."""
        renderers = self._registry("register_renderers")
        if name not in renderers:
            known = ", ".join(sorted(renderers)) or "none"
            raise NotFound(f"no renderer {name!r} (loaded: {known})", renderer=name)
        return renderers[name]

    def gateways(self) -> dict[str, Gateway]:
        """Every registered payment gateway by name."""
        return dict(self._registry("register_gateways"))

    def gateway(self, name: str) -> Gateway:
        """The gateway called ``name``; raises :class:`NotFound`."""
        gateways = self._registry("register_gateways")
        if name not in gateways:
            known = ", ".join(sorted(gateways)) or "none"
            raise NotFound(f"no payment gateway {name!r} (loaded: {known})", gateway=name)
        return gateways[name]

    def notifiers(self) -> dict[str, Notifier]:
        """Every registered notifier by name."""
        return dict(self._registry("register_notifiers"))

    def uploaders(self) -> dict[str, Uploader]:
        """Every registered portal uploader by name."""
        return dict(self._registry("register_uploaders"))

    def uploader(self, name: str) -> Uploader:
        """The uploader called ``name``; raises :class:`NotFound`."""
        uploaders = self._registry("register_uploaders")
        if name not in uploaders:
            known = ", ".join(sorted(uploaders)) or "none"
            raise NotFound(f"no uploader {name!r} (loaded: {known})", uploader=name)
        return uploaders[name]

    def emit(self, name: str, payload: dict[str, Any]) -> None:
        """Tell every ``event_emitted`` listener; a listener's exception is logged, never raised."""
        self._call_each("event_emitted", name=name, payload=payload)

    def rate_usage(self, record: dict[str, Any]) -> Decimal | None:
        """The first plugin's price for a usage record, or None when no plugin rates it.

        One ``firstresult`` call of the hook. Raises :class:`PluginError` naming the
        plugin when it fails or answers with something that is not a decimal amount,
        so the caller can report the record.
        """
        try:
            result = self._pm.hook.rate_usage(record=record)
        except Exception as exc:
            plugin = self._culprit(exc, "rate_usage", "?")
            raise PluginError(
                f"plugin {plugin!r} failed to rate usage record "
                f"{record.get('id')!r}: {type(exc).__name__}: {exc}",
                plugin=plugin,
            ) from exc
        if result is None:
            return None
        try:
            return D(result)
        except MoneyError as exc:
            plugin = self._answered_by("rate_usage", record=record)
            raise PluginError(
                f"plugin {plugin!r} rated usage record {record.get('id')!r} as {result!r}: {exc}",
                plugin=plugin,
            ) from None

    def _answered_by(self, hook_name: str, **kwargs: Any) -> str:
        """Which plugin gives a ``firstresult`` hook its answer (for an error message only).

        pluggy does not say which implementation answered, so the plugins are asked
        again one by one, in pluggy's order, through their subset hook callers; a
        ``firstresult`` hook such as ``rate_usage`` must be a pure function.
        """
        for name, call in self._callers(hook_name):
            try:
                if call(**kwargs) is not None:
                    return name
            except Exception:
                return name
        return "?"

    # -- introspection and settings --------------------------------------------------------

    def plugin_names(self) -> list[str]:
        return [name for name, plugin in self._pm.list_name_plugin() if plugin is not None]

    def plugin_list(self) -> list[dict[str, Any]]:
        """What is loaded, for ``billingctl plugins``: name, version, hooks, builtin, and
        ``registers``: the names of the renderers, gateways, notifiers and uploaders each
        plugin registers (``{"renderer": [...], "gateway": [...], ...}``)."""
        for hook_name in _REGISTRIES:
            self._registry(hook_name)
        listing = []
        for name, plugin in sorted(self._pm.list_name_plugin()):
            if plugin is None:  # blocked
                continue
            origin = self._origins.get(name, _Origin(None, builtin=False))
            hooks = sorted({caller.name for caller in self._pm.get_hookcallers(plugin) or ()})
            registers = {
                kind: sorted(
                    thing
                    for thing, owner in self._owners.get(hook_name, {}).items()
                    if owner == name
                )
                for hook_name, (kind, _) in _REGISTRIES.items()
            }
            listing.append(
                {
                    "name": name,
                    "version": origin.version,
                    "hooks": hooks,
                    "builtin": origin.builtin,
                    "registers": registers,
                }
            )
        return listing

    def settings_for(self, name: str) -> dict[str, Any]:
        """A plugin's own settings (``plugins.settings.<name>``); empty when none."""
        settings = self._settings.get(name)
        return dict(settings) if isinstance(settings, Mapping) else {}

    def schemas(self) -> dict[str, dict[str, str]]:
        """Each plugin's declared settings schema (``plugin_settings_schema``)."""
        schemas: dict[str, dict[str, str]] = {}
        for plugin, schema in self._call_each("plugin_settings_schema"):
            if schema is None:
                continue
            if not isinstance(schema, dict) or any(t not in SETTING_TYPES for t in schema.values()):
                logger.error("plugin %r returned an invalid settings schema: %r", plugin, schema)
                continue
            schemas[plugin] = schema
        return schemas

    def check_settings(self, settings: Mapping[str, Any] | None = None) -> list[str]:
        """Every mismatch between ``plugins.settings`` (by default the settings in force)
        and the plugins' schemas."""
        settings = self._settings if settings is None else settings
        schemas = self.schemas()
        problems = []
        loaded = set(self.plugin_names())
        for plugin, values in sorted(settings.items()):
            prefix = f"plugins.settings.{plugin}"
            if not isinstance(values, Mapping):
                problems.append(f"{prefix}: expected a mapping, got {type(values).__name__}")
                continue
            if plugin not in loaded:
                logger.warning("%s: no plugin %r is loaded; settings ignored", prefix, plugin)
                continue
            schema = schemas.get(plugin)
            if schema is None:
                continue
            for key, value in values.items():
                kind = schema.get(key)
                if kind is None:
                    known = ", ".join(sorted(schema)) or "none"
                    problems.append(f"{prefix}.{key}: unknown setting (known: {known})")
                elif not SETTING_TYPES[kind](value):
                    got = type(value).__name__ if is_secret_key(key) else repr(value)
                    problems.append(f"{prefix}.{key}: expected {kind}, got {got}")
        return problems

    def apply_settings(self, settings: Mapping[str, Any] | None) -> list[str]:
        """Replace ``plugins.settings`` (a config reload) and tell the plugins.

        The new settings are checked against the schemas first: when they do not
        match, nothing changes and :class:`ValidationError` lists every problem. Then
        each plugin whose own settings changed gets ``settings_changed(host,
        settings)``; a plugin without that hook gets ``startup(host)`` again, so one
        that reads its settings at start-up is reconfigured. Failures are contained.

        :return: the names of the plugins whose settings changed.
        """
        fresh = {name: dict(values or {}) for name, values in (settings or {}).items()}
        problems = self.check_settings(fresh)
        if problems:
            raise ValidationError(
                "invalid plugin settings:\n" + "\n".join(problems), field="plugins.settings"
            )
        changed = sorted(
            name
            for name in set(fresh) | set(self._settings)
            if (fresh.get(name) or {}) != (self._settings.get(name) or {})
            and name in self.plugin_names()
        )
        self._settings = fresh
        for name in changed:
            if self._implements(name, "settings_changed"):
                self._call_each(
                    "settings_changed", only=name, host=self, settings=self.settings_for(name)
                )
            else:
                self._call_each("startup", only=name, host=self)
        if changed:
            self._registries.clear()  # registered objects may follow the new settings
        return changed

    def _implements(self, name: str, hook_name: str) -> bool:
        plugin = self._pm.get_plugin(name)
        return any(
            impl.plugin is plugin for impl in getattr(self._pm.hook, hook_name).get_hookimpls()
        )


def load_plugins(
    settings: Mapping[str, Any] | None = None,
    enabled: Iterable[str] | str | None = None,
    *,
    trace: bool | None = None,
) -> PluginHost:
    """A host with the installed plugins and the built-ins loaded and started.

    :param settings: the ``plugins.settings`` mapping: plugin name -> its settings.
    :param enabled: allowlist of entry-point names; defaults to ``$BILLINGD_PLUGINS``
        (all plugins when that is unset too).
    :param trace: log hook calls; defaults to ``$BILLINGD_TRACE_PLUGINS``.
    """
    host = PluginHost(settings, trace=trace)
    host.load(enabled)
    return host
