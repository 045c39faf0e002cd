"""A client's bill groups (seed 004): listed from the daemon, added and edited in a form.

A bill group is where a client's invoices go: its address, invoicing mode, review window,
recipients, portal uploader and custom fields. The daemon checks each value; a refusal
shows under the field it names (an unknown uploader under "Portal uploader"). Changes
made elsewhere (billingctl, another operator) appear as their events arrive.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, get_current_worker

from billingd_tui.connection import Daemon
from billingd_tui.format import cell, inert
from billingd_tui.messages import BillGroupsLoaded, Following, PartyChanged
from billingd_tui.screens.form import Field, FormScreen
from billingd_tui.screens.settings import ADDRESS_FIELDS, EINVOICE_FORMATS, with_values
from billingd_tui.screens.workspace import WorkspaceScreen
from billingd_tui.widgets import PagedTable

INVOICING = (("auto: billed by the runs", "auto"), ("manual: invoiced by hand", "manual"))
STATUSES = (("active", "active"), ("cancelled", "cancelled"))

BILL_GROUP_FIELDS: tuple[Field, ...] = (
    Field("name", "Name"),
    Field("invoicing", "Invoicing", kind="choice", choices=INVOICING),
    Field("review_days", "Review window (days)", kind="integer",
          placeholder="drafts wait this long for approval"),
    Field("emails", "Recipients", placeholder="emails; empty: the client's billing emails"),
    *ADDRESS_FIELDS,
    Field("einvoice_format", "E-invoice format", kind="choice", choices=EINVOICE_FORMATS),
    Field("uploader", "Portal uploader", placeholder="a plugin's uploader; empty: none"),
    Field("custom", "Custom fields", kind="lines", placeholder="KEY=VALUE, one a line"),
    Field("status", "Status", kind="choice", choices=STATUSES),
)  # fmt: skip
"""The bill group form's fields. Custom fields are sent as ``custom`` lines together
with ``custom_fields={}``: the lines replace them all, each line checked by the daemon."""


def custom_lines(group: dict[str, Any]) -> list[str]:
    """A bill group's custom fields as the form's ``KEY=VALUE`` lines."""
    return [f"{key}={value}" for key, value in (group.get("custom_fields") or {}).items()]


def bill_group_form(daemon: Daemon, client_id: int, group: dict[str, Any] | None) -> FormScreen:
    """The form adding a bill group to ``client_id`` (``group`` None), or editing ``group``."""
    if group is None:
        return FormScreen(
            daemon=daemon, title="New bill group", method="billgroup.add",
            fields=list(BILL_GROUP_FIELDS), fixed={"client": client_id, "custom_fields": {}},
            submit="Add", aliases={"custom_fields": "custom"},
        )  # fmt: skip
    return FormScreen(
        daemon=daemon, title=f"Bill group · {group.get('name')}", method="billgroup.update",
        fields=with_values(BILL_GROUP_FIELDS, {**group, "custom": custom_lines(group)}),
        fixed={"id": group["id"], "custom_fields": {}}, send_empty=True,
        aliases={"custom_fields": "custom"},
    )  # fmt: skip


def group_details(group: dict[str, Any] | None) -> Text:
    """The highlighted group's address, recipients, uploader and custom fields."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    if group is None:
        return text.append("No bill group highlighted.", style="italic")
    place = " ".join(filter(None, (group.get("postcode"), group.get("city"))))
    address = ", ".join(filter(None, (group.get("address"), place, group.get("country"))))
    custom = ", ".join(custom_lines(group))
    for label, value in (
        ("Address", address or "—"),
        ("Sent to", group.get("emails") or "the client's billing emails"),
        ("Uploader", group.get("uploader") or "none"),
        ("Custom", custom or "none"),
    ):
        text.append(f"{label:<9}", style="dim").append(f"{inert(value)}\n")
    text.right_crop(1)
    return text


class BillGroupsScreen(WorkspaceScreen):
    """One client's bill groups; the highlighted one's details below them."""

    SUB_TITLE = "Bill groups"
    AUTO_FOCUS = "#groups"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add_group", "Add", id="billgroups.add"),
        Binding("e", "edit_group", "Edit", id="billgroups.edit"),
        Binding("r", "refresh", "Refresh", id="billgroups.refresh"),
        Binding("escape", "back", "Back", id="billgroups.back"),
    ]
    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("bill group: add", "A new bill group for this client", "add_group"),
        ("bill group: edit", "The highlighted group's address, recipients, …", "edit_group"),
        ("bill groups: refresh", "Reload this client's bill groups", "refresh"),
    )  # fmt: skip

    def __init__(self, *, daemon: Daemon, client_id: int, client_name: str | None = None) -> None:
        super().__init__(daemon=daemon)
        self.client_id = client_id
        self.client_name = client_name
        self.groups: dict[str, dict[str, Any]] = {}
        """The listed groups by row key (their id as text)."""
        self._follower: Worker[None] | None = None
        self._select: int | None = None
        """A group just saved, to put the cursor on once it is listed."""

    def compose(self) -> ComposeResult:
        yield Header()
        label = f"Bill groups of {self.client_name}" if self.client_name else "Bill groups"
        yield PagedTable(id="groups", label=label)
        yield Static(group_details(None), id="group")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#groups", PagedTable)
        flexible = max(20, self.size.width - 50)  # the rest: fixed columns, padding, scrollbar
        table.add_column("ID", key="id", width=4)
        table.add_column("Name", key="name", width=flexible * 3 // 5)
        table.add_column("Invoicing", key="invoicing", width=9)
        table.add_column("Status", key="status", width=9)
        table.add_column(cell("Review", right=True), key="review", width=6)
        table.add_column("Recipients", key="emails", width=flexible - flexible * 3 // 5)
        self._follower = self.follow_events()  # Following, once subscribed, loads the groups

    # -- actions ---------------------------------------------------------------

    def action_refresh(self) -> None:
        """Reload the groups; subscribe again if the subscription was lost."""
        if self._follower is None or self._follower.is_finished:
            self._follower = self.follow_events()
        else:
            self.load_groups()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "edit_group":
            return self.highlighted() is not None
        return True

    def highlighted(self) -> dict[str, Any] | None:
        table = self.query_one("#groups", PagedTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.groups.get(str(key))

    def action_add_group(self) -> None:
        self.app.push_screen(bill_group_form(self.daemon, self.client_id, None), self._saved)

    def action_edit_group(self) -> None:
        group = self.highlighted()
        if group is not None:
            self.app.push_screen(bill_group_form(self.daemon, self.client_id, group), self._saved)

    def _saved(self, group: dict[str, Any] | None) -> None:
        if group is not None:
            self.notify("bill group saved", title=str(group.get("name")))
            self._select = group["id"]
            self.load_groups()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_edit_group()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.query_one("#group", Static).update(group_details(self.highlighted()))
        self.refresh_bindings()

    # -- the subscription and loading -------------------------------------------

    @work(thread=True, exclusive=True, group="follow")
    def follow_events(self) -> None:
        self.daemon.follow(self, ("bill_group.",))

    def on_following(self, message: Following) -> None:
        self.load_groups()

    def on_party_changed(self, message: PartyChanged) -> None:
        if message.client_id == self.client_id:
            self.load_groups()

    @work(thread=True, exclusive=True, group="groups")
    def load_groups(self) -> None:
        groups = self.daemon.request(self, "billgroup.list", client=self.client_id)
        if groups is not None and not get_current_worker().is_cancelled:
            self.post_message(BillGroupsLoaded(self.client_id, groups))

    def on_bill_groups_loaded(self, message: BillGroupsLoaded) -> None:
        table = self.query_one("#groups", PagedTable)
        keep = self._select if self._select is not None else self.highlighted_id()
        self.groups = {str(g["id"]): g for g in message.groups}
        rows = [
            (
                str(g["id"]),
                (
                    cell(g["id"], right=True),
                    cell(f"{g['name']} (default)" if g.get("is_default") else g["name"]),
                    cell(g.get("invoicing")),
                    cell(g.get("status")),
                    cell(g.get("review_days"), right=True),
                    cell(g.get("emails") or "client's"),
                ),
            )
            for g in message.groups
        ]
        table.add_page(table.start_query(), 0, rows, False)
        if keep is not None and str(keep) in table.rows:
            table.move_cursor(row=table.get_row_index(str(keep)))
            self._select = None
        self.query_one("#group", Static).update(group_details(self.highlighted()))
        self.refresh_bindings()

    def highlighted_id(self) -> int | None:
        group = self.highlighted()
        return None if group is None else group["id"]
