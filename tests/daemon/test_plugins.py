"""The plugin host (SPEC §11): loading, registries, containment, docs."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import inspect
import logging
import re
import sys
import types
from decimal import Decimal
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any, ClassVar

import pytest

import billingd
from billingd import hookspecs, plugins
from billingd.control.params import validate_params
from billingd.control.server import METHODS
from billingd.errors import NotFound, ValidationError
from billingd.hookspecs import hookimpl
from billingd.plugins import PluginError, PluginHost, load_plugins
from billingd.rendering import Renderer
from billingd.services import document_queue, invoicing, parties
from billingd.services.context import ServiceContext

pytest_plugins = ["billingd.testing", "pytester"]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


class FakeRenderer:
    media_type = "text/plain"
    file_extension = "txt"

    def __init__(self, name: Any = "fake") -> None:
        self.name = name

    def render(self, document: dict, context: Any) -> bytes:
        return str(document.get("number")).encode()


class RendererPlugin:
    def __init__(self, *renderers: Any) -> None:
        self.renderers = renderers

    @hookimpl
    def register_renderers(self, register):
        for renderer in self.renderers:
            register(renderer)


class FakeGateway:
    name = "fake"

    def charge(self, invoice: dict, amount: str, idempotency_key: str) -> dict:
        return {"status": "succeeded", "amount": amount}

    def refund(self, payment: dict, amount: str, idempotency_key: str) -> dict:
        return {"status": "refunded", "amount": amount}


@pytest.fixture
def fake_entry_points(monkeypatch):
    """Install fake modules and make them the ``billingd`` entry points."""

    def install(**modules: types.ModuleType | str) -> None:
        eps = []
        for name, module in modules.items():
            if isinstance(module, str):  # a module path that will not import
                eps.append(EntryPoint(name, module, "billingd"))
                continue
            monkeypatch.setitem(sys.modules, module.__name__, module)
            eps.append(EntryPoint(name, module.__name__, "billingd"))
        monkeypatch.setattr(plugins, "entry_points", lambda group: eps)

    monkeypatch.delenv(plugins.ALLOWLIST_ENV, raising=False)
    return install


def plugin_module(name: str, **hooks: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        function.__name__ = hook_name
        setattr(module, hook_name, hookimpl(function))
    return module


def renderer_module(name: str, renderer_name: str) -> types.ModuleType:
    return plugin_module(
        name, register_renderers=lambda register: register(FakeRenderer(renderer_name))
    )


# -- loading --------------------------------------------------------------------------------


def test_builtin_pdf_renderer_found(plugin_host):
    renderer = plugin_host.renderer("pdf")
    assert isinstance(renderer, Renderer)
    assert renderer.media_type == "application/pdf"
    assert renderer.file_extension == "pdf"
    assert {
        "name": "pdf",
        "version": billingd.__version__,
        "hooks": ["plugin_settings_schema", "register_renderers"],
        "builtin": True,
        "registers": {"renderer": ["pdf"], "gateway": [], "notifier": [], "uploader": []},
    } in plugin_host.plugin_list()


def test_builtin_entry_point_is_registered_last_as_builtin(fake_entry_points):
    import billingd_plugins.pdf

    extra = renderer_module("billingd_test_extra", "extra")
    fake_entry_points(pdf=billingd_plugins.pdf, extra=extra)
    host = load_plugins()
    assert [name for name, _ in host.manager.list_name_plugin()] == [
        "extra",
        *(module.rpartition(".")[2] for module in plugins.BUILTIN_PLUGINS),
    ]
    listing = {p["name"]: p for p in host.plugin_list()}
    assert listing["pdf"]["builtin"] is True
    assert listing["extra"]["builtin"] is False
    assert listing["extra"]["version"] is None  # no distribution behind a fake entry point


def test_unknown_renderer_is_not_found(plugin_host):
    with pytest.raises(NotFound, match=r"no renderer 'nope' \(loaded: pdf\)"):
        plugin_host.renderer("nope")


def test_allowlist_argument_loads_only_named_plugins(fake_entry_points):
    fake_entry_points(
        one=renderer_module("billingd_test_one", "one"),
        two=renderer_module("billingd_test_two", "two"),
    )
    assert set(load_plugins().renderers()) == {"pdf", "one", "two"}
    assert set(load_plugins(enabled=["two"]).renderers()) == {"pdf", "two"}
    assert set(load_plugins(enabled=[]).renderers()) == {"pdf"}  # built-ins always load


def test_allowlist_environment_variable(fake_entry_points, monkeypatch):
    fake_entry_points(
        one=renderer_module("billingd_test_one", "one"),
        two=renderer_module("billingd_test_two", "two"),
    )
    monkeypatch.setenv("BILLINGD_PLUGINS", " one , missing")
    assert set(load_plugins().renderers()) == {"pdf", "one"}
    monkeypatch.setenv("BILLINGD_PLUGINS", "")
    assert set(load_plugins().renderers()) == {"pdf"}
    assert set(load_plugins(enabled="two").renderers()) == {"pdf", "two"}  # argument wins


def test_plugin_that_fails_to_import_is_contained(fake_entry_points, caplog):
    fake_entry_points(broken="billingd_test_no_such_module", one=renderer_module("m1", "one"))
    host = load_plugins()
    assert set(host.renderers()) == {"pdf", "one"}
    assert "ModuleNotFoundError" in host.load_errors["broken"]
    assert "cannot load plugin 'broken'" in caplog.text


def test_unhashable_plugin_is_refused(register_plugin, plugin_host):
    @dataclasses.dataclass
    class Listener:  # eq=True without frozen: no __hash__
        heard: list[str]

        @hookimpl
        def event_emitted(self, name):
            self.heard.append(name)

    with pytest.raises(PluginError, match="'listener': a plugin object must be hashable"):
        register_plugin(Listener([]), "listener")
    plugin_host.emit("invoice.issued", {})  # nothing half-registered


def test_unknown_hook_is_refused(register_plugin):
    typo = plugin_module("typo", register_renderer=lambda register: None)
    with pytest.raises(PluginError, match="'typo' implements unknown hooks: register_renderer"):
        register_plugin(typo, "typo")


def test_trace_logs_hook_calls(monkeypatch, caplog, fake_entry_points):
    fake_entry_points()
    monkeypatch.setenv("BILLINGD_TRACE_PLUGINS", "1")
    with caplog.at_level(logging.INFO, logger="billingd.plugins"):
        load_plugins()
    assert "pdf -> register_renderers(register)" in caplog.text


# -- the register_plugin fixture ----------------------------------------------------------


def test_register_plugin_fixture_registers_for_one_test(register_plugin, plugin_host):
    name = register_plugin(RendererPlugin(FakeRenderer("fake")))
    assert plugin_host.renderer("fake").render({"number": "7"}, None) == b"7"
    plugin_host.unregister(name)
    with pytest.raises(NotFound):
        plugin_host.renderer("fake")
    with pytest.raises(NotFound):
        plugin_host.unregister(name)


def test_register_plugin_fixture_unregisters_after_a_failing_test(pytester):
    pytester.makepyfile(
        """
        import pytest
        from billingd.hookspecs import hookimpl

        pytest_plugins = ["billingd.testing"]
        hosts = []

        class Plugin:
            @hookimpl
            def event_emitted(self, name):
                pass

        def test_fails(register_plugin, plugin_host):
            hosts.append(plugin_host)
            register_plugin(Plugin(), "throwaway")
            assert False

        def test_afterwards():
            assert hosts[0].manager.get_plugin("throwaway") is None
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=1, failed=1)


# -- registries ---------------------------------------------------------------------------


def test_duplicate_renderer_names_are_refused(register_plugin, plugin_host):
    with pytest.raises(
        PluginError, match="plugin 'pdf' and plugin 'copycat' both register renderer 'pdf'"
    ):
        register_plugin(RendererPlugin(FakeRenderer("pdf")), "copycat")
    assert plugin_host.manager.get_plugin("copycat") is None  # rolled back
    assert set(plugin_host.renderers()) == {"pdf"}


@pytest.mark.parametrize(
    ("renderer", "message"),
    [
        (FakeRenderer(""), "without a name"),
        (FakeRenderer(None), "without a name"),
        (types.SimpleNamespace(name="bare"), "'bare' without render()"),
    ],
)
def test_invalid_renderers_are_refused(register_plugin, renderer, message):
    with pytest.raises(PluginError, match=f"plugin 'bad' registered .*{re.escape(message)}"):
        register_plugin(RendererPlugin(renderer), "bad")


def test_register_renderers_exception_is_contained(register_plugin, plugin_host, caplog):
    def register_renderers(register):
        raise RuntimeError("boom")

    register_plugin(plugin_module("crashing", register_renderers=register_renderers), "crashing")
    assert set(plugin_host.renderers()) == {"pdf"}
    assert "plugin 'crashing' failed in register_renderers" in caplog.text


def test_register_gateways(register_plugin, plugin_host):
    class GatewayPlugin:
        @hookimpl
        def register_gateways(self, register):
            register(FakeGateway())

    register_plugin(GatewayPlugin(), "gw")
    gateway = plugin_host.gateway("fake")
    assert isinstance(gateway, plugins.Gateway)
    assert gateway.charge({}, "1.00", "key-1") == {"status": "succeeded", "amount": "1.00"}
    with pytest.raises(NotFound, match="no payment gateway 'other'"):
        plugin_host.gateway("other")
    with pytest.raises(PluginError, match="'gw' and plugin 'gw2' both register gateway 'fake'"):
        register_plugin(GatewayPlugin(), "gw2")


# -- events, rating, start-up ---------------------------------------------------------------


def test_emit_contains_plugin_exceptions(register_plugin, plugin_host, caplog):
    seen = []

    def failing(name, payload):
        raise ValueError("listener bug")

    register_plugin(plugin_module("first", event_emitted=lambda name: seen.append(name)), "first")
    register_plugin(plugin_module("broken", event_emitted=failing), "broken")
    register_plugin(
        plugin_module("last", event_emitted=lambda payload: seen.append(payload)), "last"
    )

    plugin_host.emit("invoice.issued", {"id": 1})

    assert seen == [{"id": 1}, "invoice.issued"]  # both others still called, newest first
    assert "plugin 'broken' failed in event_emitted" in caplog.text
    assert "listener bug" in caplog.text


def test_rate_usage_stops_at_first_result(register_plugin, plugin_host):
    asked = []

    def rater(answer):
        def rate_usage(record):
            asked.append(answer)
            return answer

        return rate_usage

    assert plugin_host.rate_usage({"id": 1}) is None
    register_plugin(plugin_module("fallback", rate_usage=rater("1.00")), "fallback")
    register_plugin(plugin_module("specific", rate_usage=rater("0.042")), "specific")
    register_plugin(plugin_module("abstains", rate_usage=rater(None)), "abstains")

    assert plugin_host.rate_usage({"id": 1}) == Decimal("0.042")
    assert asked == [None, "0.042"]  # the fallback was never asked


@pytest.mark.parametrize(
    ("answer", "message"),
    [(0.1, "rated usage record 5 as 0.1.*float"), ("cheap", "rated usage record 5 as 'cheap'")],
)
def test_rate_usage_refuses_bad_answers(register_plugin, plugin_host, answer, message):
    register_plugin(plugin_module("bad", rate_usage=lambda record: answer), "bad")
    with pytest.raises(PluginError, match=f"plugin 'bad' {message}"):
        plugin_host.rate_usage({"id": 5})


def test_rate_usage_plugin_exception_names_the_plugin(register_plugin, plugin_host):
    def rate_usage(record):
        raise KeyError("destination")

    register_plugin(plugin_module("rater", rate_usage=rate_usage), "rater")
    with pytest.raises(PluginError, match="plugin 'rater' failed to rate usage record 9"):
        plugin_host.rate_usage({"id": 9})


def test_startup_is_historic_and_contained(fake_entry_points, caplog):
    started = []

    def failing(host):
        raise RuntimeError("cannot start")

    fake_entry_points(
        early=plugin_module("billingd_test_early", startup=lambda host: started.append(host)),
        broken=plugin_module("billingd_test_broken", startup=failing),
    )
    host = load_plugins()
    assert started == [host]
    assert "plugin 'broken' failed in startup" in caplog.text

    host.register(plugin_module("late", startup=lambda: started.append("late")), "late")
    assert started == [host, "late"]  # called once, at registration, without re-running others


# -- settings -------------------------------------------------------------------------------


def schema_plugin(name: str) -> types.ModuleType:
    return plugin_module(
        name,
        plugin_settings_schema=lambda: {"api_key": "str", "retries": "int", "fee": "decimal"},
    )


def test_settings_for():
    host = PluginHost({"acme": {"api_key": "k"}})
    assert host.settings_for("acme") == {"api_key": "k"}
    assert host.settings_for("other") == {}


def test_settings_checked_against_the_plugins_schema():
    host = PluginHost(
        {"acme": {"api_key": 1, "retries": True, "fee": 0.5, "colour": "red"}, "nobody": {}}
    )
    host.register(schema_plugin("acme"), "acme")
    assert host.check_settings() == [
        "plugins.settings.acme.api_key: expected str, got int",  # a secret: not shown
        "plugins.settings.acme.retries: expected int, got True",
        "plugins.settings.acme.fee: expected decimal, got 0.5",
        "plugins.settings.acme.colour: unknown setting (known: api_key, fee, retries)",
    ]
    good = PluginHost({"acme": {"api_key": "k", "retries": 3, "fee": "0.50"}})
    good.register(schema_plugin("acme"), "acme")
    assert good.check_settings() == []


def test_load_plugins_refuses_bad_settings(fake_entry_points):
    fake_entry_points(acme=schema_plugin("billingd_test_acme"))
    with pytest.raises(ValidationError, match=r"plugins\.settings\.acme\.retries: expected int"):
        load_plugins({"acme": {"retries": "many"}})
    assert load_plugins({"acme": {"retries": 2}}).settings_for("acme") == {"retries": 2}


# -- documentation --------------------------------------------------------------------------


def hookspec_functions() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(function)
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, "billingd_spec")
    }


def test_hookspecs_are_all_found():
    assert set(hookspec_functions()) == {
        "plugin_settings_schema",
        "startup",
        "settings_changed",
        "register_renderers",
        "register_gateways",
        "register_notifiers",
        "register_uploaders",
        "rate_usage",
        "event_emitted",
    }


@pytest.mark.parametrize("hook", sorted(hookspec_functions()))
def test_every_hook_is_documented_with_its_arguments(hook):
    signature = hookspec_functions()[hook]
    assert f"`{hook}({', '.join(signature.parameters)})`" in DOCS.read_text(encoding="utf-8")


@pytest.mark.parametrize("hook", sorted(hookspec_functions()))
def test_every_hook_has_a_docstring_with_its_result_contract(hook):
    function = getattr(hookspecs, hook)
    doc = inspect.getdoc(function) or ""
    assert ":return:" in doc
    for parameter in inspect.signature(function).parameters:
        assert f":param {parameter}:" in doc


def test_third_party_package_is_loaded_through_its_real_entry_point(tmp_path, monkeypatch):
    """A distribution on sys.path with a ``billingd`` entry point, found by importlib.metadata."""
    package = tmp_path / "acme_billing_plugin"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from billingd.hookspecs import hookimpl\n\n"
        "class Csv:\n"
        "    name = 'acme-csv'\n"
        "    media_type = 'text/csv'\n"
        "    file_extension = '.csv'\n\n"
        "    def render(self, document, context):\n"
        "        return f\"{document['number']},{document['total']}\".encode()\n\n"
        "@hookimpl\n"
        "def register_renderers(register):\n"
        "    register(Csv())\n"
    )
    info = tmp_path / "acme_billing_plugin-2.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-billing-plugin\nVersion: 2.3.0\n"
    )
    (info / "entry_points.txt").write_text("[billingd]\nacme = acme_billing_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(plugins.ALLOWLIST_ENV, raising=False)
    host = load_plugins()
    listing = {p["name"]: p for p in host.plugin_list()}
    assert listing["acme"]["version"] == "2.3.0" and listing["acme"]["builtin"] is False
    rendered = host.renderer("acme-csv").render({"number": "7", "total": "1.00"}, None)
    assert rendered == b"7,1.00"


# -- e-invoice formats come from renderer plugins (SPEC §9: invoice pdf --format ubl) -------


class UblRenderer:
    name = "ubl"
    media_type = "application/xml"
    file_extension = "xml"

    def render(self, document: dict, context: Any) -> bytes:
        lines = "".join(f"<line>{line['net']}</line>" for line in document["lines"])
        return f"<Invoice number='{document['number']}'>{lines}</Invoice>".encode()


def _invoice_pdf(ctx: ServiceContext, **params: Any) -> dict[str, Any]:
    entry = METHODS["invoice.pdf"]
    return entry.handler(ctx, **validate_params(entry.params, params))


def test_invoice_pdf_renders_a_format_a_renderer_plugin_provides(
    db: Any, tmp_path: Path, plugin_host: Any, register_plugin: Any
) -> None:
    ctx = ServiceContext(actor="tester", plugins=plugin_host, data_dir=tmp_path / "data")
    enterprise = parties.add_enterprise(ctx, name="Acme", currency="EUR", tax_rate=Decimal("19"))
    client = parties.add_client(ctx, name="Jane", enterprise_id=enterprise.id)
    (invoice,) = invoicing.invoice_for_amount(
        ctx, client_id=client.id, issue_date=dt.date(2026, 1, 5), amount=Decimal("119")
    )
    with pytest.raises(ValidationError, match="'ubl' needs a renderer plugin") as refused:
        _invoice_pdf(ctx, invoice=invoice.id, format="ubl")
    assert refused.value.data["field"] == "format"
    assert "pdf, stats-csv" in refused.value.message

    register_plugin(RendererPlugin(UblRenderer()))
    ubl = _invoice_pdf(ctx, invoice=invoice.number, format="ubl")
    assert (ubl["format"], ubl["media_type"], ubl["number"]) == (
        "ubl",
        "application/xml",
        invoice.number,
    )
    xml = base64.b64decode(ubl["content_base64"]).decode()
    assert xml == f"<Invoice number='{invoice.number}'><line>100.00</line></Invoice>"
    document_queue.render_pending(ctx)  # the PDF is rendered after the commit (R-INV-11)
    stored = _invoice_pdf(ctx, invoice=invoice.id)  # the stored PDF is still the PDF
    assert base64.b64decode(stored["content_base64"]).startswith(b"%PDF-")


# -- pluggy's own dispatch: ordering, firstresult, hook wrappers ----------------------------


def test_rate_usage_honours_tryfirst_and_a_wrapper(register_plugin, plugin_host):
    class Fallback:
        @hookimpl(tryfirst=True)
        def rate_usage(self, record):
            return "1.00"

    class Specific:
        @hookimpl
        def rate_usage(self, record):
            return "0.042"

    class Surcharge:  # a wrapper from a third plugin adds 10 % to whatever is answered
        seen: ClassVar[list[Any]] = []

        @hookimpl(wrapper=True)
        def rate_usage(self, record):
            answer = yield
            self.seen.append(answer)
            return None if answer is None else str(Decimal(answer) * Decimal("1.1"))

    register_plugin(Fallback(), "fallback")
    register_plugin(Specific(), "specific")
    assert plugin_host.rate_usage({"id": 1}) == Decimal("1.00")  # tryfirst asked first
    register_plugin(Surcharge(), "surcharge")
    assert plugin_host.rate_usage({"id": 1}) == Decimal("1.100")
    assert Surcharge.seen == ["1.00"]


def test_rate_usage_names_the_failing_plugin_among_several(register_plugin, plugin_host):
    def fails(record):
        raise ZeroDivisionError("no tariff")

    register_plugin(plugin_module("abstains", rate_usage=lambda record: None), "abstains")
    register_plugin(plugin_module("fails", rate_usage=fails), "fails")
    register_plugin(plugin_module("first", rate_usage=lambda record: None), "first")
    with pytest.raises(PluginError, match="plugin 'fails' failed to rate usage record 3: Zero"):
        plugin_host.rate_usage({"id": 3})


def test_rate_usage_names_the_plugin_with_a_bad_answer_among_several(register_plugin, plugin_host):
    register_plugin(plugin_module("later", rate_usage=lambda record: "2.00"), "later")
    register_plugin(plugin_module("sloppy", rate_usage=lambda record: 0.5), "sloppy")
    register_plugin(plugin_module("abstains", rate_usage=lambda record: None), "abstains")
    with pytest.raises(PluginError, match=r"plugin 'sloppy' rated usage record 4 as 0\.5"):
        plugin_host.rate_usage({"id": 4})


def test_a_wrapper_of_register_renderers_wraps_each_plugin(register_plugin, plugin_host):
    wrapped = []

    class Audit:
        @hookimpl(wrapper=True)
        def register_renderers(self, register):
            result = yield
            wrapped.append(register)
            return result

    register_plugin(RendererPlugin(FakeRenderer("fake")), "fake")
    register_plugin(Audit(), "audit")
    wrapped.clear()  # registering collected the registries already
    assert set(plugin_host.renderers()) == {"pdf", "fake"}
    assert len(wrapped) == 2  # around the pdf plugin's call and the fake plugin's
    audit = next(p for p in plugin_host.plugin_list() if p["name"] == "audit")
    assert audit["hooks"] == ["register_renderers"]
    assert audit["registers"] == {"renderer": [], "gateway": [], "notifier": [], "uploader": []}


def test_event_listeners_stay_isolated_under_a_wrapper(register_plugin, plugin_host, caplog):
    calls = []

    class Timing:
        @hookimpl(wrapper=True)
        def event_emitted(self, name):
            calls.append(("before", name))
            try:
                return (yield)
            finally:
                calls.append(("after", name))

    def failing(name):
        calls.append(("broken", name))
        raise RuntimeError("listener bug")

    register_plugin(plugin_module("ok", event_emitted=lambda name: calls.append(("ok", name))))
    register_plugin(plugin_module("broken", event_emitted=failing), "broken")
    register_plugin(Timing(), "timing")
    plugin_host.emit("invoice.issued", {})
    assert calls == [
        ("before", "invoice.issued"),
        ("broken", "invoice.issued"),
        ("after", "invoice.issued"),
        ("before", "invoice.issued"),
        ("ok", "invoice.issued"),
        ("after", "invoice.issued"),
    ]
    assert "plugin 'broken' failed in event_emitted" in caplog.text


def test_a_failing_wrapper_is_named_not_the_plugin_it_wraps(register_plugin, plugin_host, caplog):
    heard = []

    class BadWrapper:
        @hookimpl(wrapper=True)
        def event_emitted(self):
            yield
            raise ValueError("wrapper bug")

    register_plugin(plugin_module("listener", event_emitted=lambda name: heard.append(name)))
    register_plugin(BadWrapper(), "badwrapper")
    plugin_host.emit("payment.recorded", {})
    assert heard == ["payment.recorded"]
    assert "plugin 'badwrapper' failed in event_emitted" in caplog.text


# -- allowlist and trace switch from the config and the environment ------------------------


@pytest.mark.parametrize(
    ("environment", "config", "expected"),
    [
        ({}, {"enabled": None}, (None, False)),
        ({}, {"enabled": ["one"], "trace": True}, (["one"], True)),
        ({"BILLINGD_PLUGINS": "two, three"}, {"enabled": ["one"]}, (["two", "three"], False)),
        ({"BILLINGD_PLUGINS": ""}, {"enabled": None}, ([], False)),
        ({"BILLINGD_TRACE_PLUGINS": "1"}, {"trace": False}, (None, True)),
        ({"BILLINGD_TRACE_PLUGINS": "0"}, {"trace": True}, (None, False)),
    ],
)
def test_configured_allowlist_and_trace_environment_wins(
    monkeypatch, environment, config, expected
):
    monkeypatch.delenv(plugins.ALLOWLIST_ENV, raising=False)
    monkeypatch.delenv(plugins.TRACE_ENV, raising=False)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    assert plugins.configured(config) == expected


def test_trace_switch_logs_calls_and_outcomes_and_turns_off(register_plugin, plugin_host, caplog):
    def rate_usage(record):
        raise KeyError("zone")

    register_plugin(plugin_module("rater", rate_usage=rate_usage), "rater")
    register_plugin(plugin_module("listener", event_emitted=lambda name: None), "listener")
    with caplog.at_level(logging.INFO, logger="billingd.plugins"):
        plugin_host.set_trace(True)
        assert plugin_host.tracing
        plugin_host.emit("invoice.issued", {})
        with pytest.raises(PluginError):
            plugin_host.rate_usage({"id": 1})
        assert "listener -> event_emitted(name, payload)" in caplog.text
        assert "event_emitted returned []" in caplog.text
        assert "rater -> rate_usage(record)" in caplog.text
        assert "rate_usage raised KeyError: 'zone'" in caplog.text
        caplog.clear()
        plugin_host.set_trace(False)
        plugin_host.emit("invoice.issued", {})
    assert "event_emitted" not in caplog.text


# -- settings applied on a reload --------------------------------------------------------------


class SettingsPlugin:
    """Declares ``label``; records what it is told."""

    def __init__(self, name: str, *, with_hook: bool = True) -> None:
        self.name = name
        self.told: list[Any] = []
        if not with_hook:
            self.settings_changed = None  # type: ignore[assignment]

    @hookimpl
    def plugin_settings_schema(self):
        return {"label": "str"}

    @hookimpl
    def startup(self, host):
        self.told.append(("startup", host.settings_for(self.name)))

    @hookimpl
    def settings_changed(self, host, settings):
        self.told.append(("changed", settings))


def test_apply_settings_tells_the_plugins_whose_settings_changed():
    host = PluginHost({"one": {"label": "a"}, "two": {"label": "b"}})
    one, two, old = (
        SettingsPlugin("one"),
        SettingsPlugin("two"),
        SettingsPlugin("old", with_hook=False),
    )
    for plugin in (one, two, old):
        host.register(plugin, plugin.name)
    host.load(enabled=[])
    assert one.told == [("startup", {"label": "a"})]

    changed = host.apply_settings(
        {"one": {"label": "A"}, "two": {"label": "b"}, "old": {"label": "x"}}
    )

    assert changed == ["old", "one"]
    assert host.settings_for("one") == {"label": "A"}
    assert one.told[-1] == ("changed", {"label": "A"})
    assert two.told == [("startup", {"label": "b"})]  # unchanged: not told
    assert old.told == [("startup", {}), ("startup", {"label": "x"})]  # no hook: started again


def test_apply_settings_refuses_bad_settings_and_keeps_the_old(caplog):
    host = PluginHost({"one": {"label": "a"}})
    one = SettingsPlugin("one")
    host.register(one, "one")
    host.load(enabled=[])
    with pytest.raises(ValidationError, match=r"plugins\.settings\.one\.label: expected str"):
        host.apply_settings({"one": {"label": 5}})
    with pytest.raises(ValidationError, match=r"plugins\.settings\.one\.colour: unknown setting"):
        host.apply_settings({"one": {"colour": "red"}})
    assert host.settings_for("one") == {"label": "a"}
    assert one.told == [("startup", {"label": "a"})]


def test_a_failing_settings_changed_is_contained(caplog):
    class Broken(SettingsPlugin):
        @hookimpl
        def settings_changed(self, host, settings):
            raise RuntimeError("cannot reconfigure")

    host = PluginHost({})
    broken, fine = Broken("broken"), SettingsPlugin("fine")
    host.register(broken, "broken")
    host.register(fine, "fine")
    host.load(enabled=[])
    assert host.apply_settings({"broken": {"label": "x"}, "fine": {"label": "y"}}) == [
        "broken",
        "fine",
    ]
    assert fine.told[-1] == ("changed", {"label": "y"})
    assert "plugin 'broken' failed in settings_changed" in caplog.text


# -- what each plugin registers --------------------------------------------------------------


def test_plugin_list_shows_what_each_plugin_registers(register_plugin, plugin_host):
    class Notifier:
        name = "pager"

        def wants(self, event_name):
            return True

        def notify(self, event):
            pass

    class Everything:
        @hookimpl
        def register_gateways(self, register):
            register(FakeGateway())

        @hookimpl
        def register_notifiers(self, register):
            register(Notifier())

    register_plugin(Everything(), "everything")
    listing = {p["name"]: p for p in plugin_host.plugin_list()}
    assert listing["everything"]["registers"] == {
        "renderer": [],
        "gateway": ["fake"],
        "notifier": ["pager"],
        "uploader": [],
    }
    assert listing["sandbox"]["registers"]["gateway"] == ["sandbox"]
    assert listing["email"]["registers"]["notifier"] == ["email"]
    assert set(listing["everything"]) == {"name", "version", "hooks", "builtin", "registers"}
