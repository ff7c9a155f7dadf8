"""SqlCommandStore: actuator commands and their transitions in the operational database."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, insert, select

from actuators.records import CommandRecord, CommandState, CommandTransition
from store.sql.repository import SqlOpsStore, _check_page, _columns, _page
from store.sql.tables_actuators import CommandRow, CommandTransitionRow


class SqlCommandStore(SqlOpsStore):
    """The actuator side's repository over the same database URL as the alarm records."""

    def save_command(self, record: CommandRecord) -> None:
        """Insert or replace the command with this correlation id."""
        with self._tx(f"saving command {record.correlation_id}") as session:
            self._upsert(session, CommandRow, _columns(record))

    def add_command_transitions(self, transitions: Sequence[CommandTransition]) -> None:
        """Append transitions; their commands must have been saved."""
        if not transitions:
            return
        with self._tx(f"adding {len(transitions)} command transition(s)") as session:
            session.execute(insert(CommandTransitionRow), [_columns(t) for t in transitions])

    def save_commands(
        self, records: Sequence[CommandRecord], transitions: Sequence[CommandTransition]
    ) -> None:
        """Save records (the last of each correlation id wins) and append transitions, in one transaction."""
        latest = {r.correlation_id: r for r in records}
        with self._tx(f"saving {len(latest)} command(s) and {len(transitions)} transition(s)") as session:
            if latest:
                self._upsert_many(session, CommandRow, [_columns(r) for r in latest.values()])
            if transitions:
                session.execute(insert(CommandTransitionRow), [_columns(t) for t in transitions])

    def get_command(self, correlation_id: str) -> CommandRecord | None:
        """The command with this correlation id, or None."""
        with self._tx(f"reading command {correlation_id}") as session:
            row = session.get(CommandRow, correlation_id)
            return None if row is None else CommandRecord.model_validate(row, from_attributes=True)

    def command_transitions(self, correlation_id: str) -> list[CommandTransition]:
        """Every transition of the command, oldest first."""
        query = (
            select(CommandTransitionRow)
            .where(CommandTransitionRow.correlation_id == correlation_id)
            .order_by(CommandTransitionRow.ts, CommandTransitionRow.id)
        )
        with self._tx(f"reading the transitions of command {correlation_id}") as session:
            return [CommandTransition.model_validate(r, from_attributes=True) for r in session.scalars(query)]

    def list_commands(
        self,
        *,
        device_id: str | None = None,
        states: Sequence[CommandState] | None = None,
        since_ts: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[CommandRecord], int]:
        """One page of commands, newest first, and how many match in all (since_ts: created since)."""
        _check_page(limit, offset)
        where: list[ColumnElement[bool]] = []
        if device_id is not None:
            where.append(CommandRow.device_id == device_id)
        if states is not None:
            where.append(CommandRow.state.in_([CommandState(s).value for s in states]))
        if since_ts is not None:
            where.append(CommandRow.created_ts >= since_ts)
        order = (CommandRow.created_ts.desc(), CommandRow.correlation_id.desc())
        with self._tx("listing commands") as session:
            rows, total = _page(session, CommandRow, where, order, limit, offset)
            return [CommandRecord.model_validate(r, from_attributes=True) for r in rows], total
