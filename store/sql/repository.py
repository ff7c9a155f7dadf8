"""SqlOpsStore: the alarms.ports.OpsStore on SQLAlchemy 2 (SQLite file or PostgreSQL)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar, cast

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Engine, Executable, UnaryExpression, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.alarms import Alarm, AlarmEvent, AlarmState, CreditEvent, WorkOrder, WorkOrderState, WorkOrderStep
from core.contract import now_ms
from core.errors import StoreError
from core.settings import DatabaseSettings
from core.steps import Encoded
from store.sql.engine import (
    BACKEND,
    JsonText,
    NotJsonError,
    describe,
    make_engine,
    not_json,
    parse_url,
    translate,
)
from store.sql.migrations import upgrade
from store.sql.tables import (
    AlarmEventRow,
    AlarmRow,
    Base,
    CreditEventRow,
    DocumentRow,
    RuleVersionRow,
    WorkOrderRow,
    WorkOrderStepRow,
)

log = logging.getLogger(__name__)

RowT = TypeVar("RowT", bound=Base)

CLOSED_ALARM_STATES = (AlarmState.CLEARED.value,)
CLOSED_WORK_ORDER_STATES = (WorkOrderState.CLOSED.value,)


def _columns(model: BaseModel) -> dict[str, Any]:
    """A model as column values: enums as their strings, JSON bodies as plain JSON values."""
    return model.model_dump(mode="json")


def _check_page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise ValueError(f"limit and offset must not be negative (got limit={limit}, offset={offset})")


def _page(
    session: Session,
    row: type[RowT],
    where: Sequence[ColumnElement[bool]],
    order: Sequence[UnaryExpression[Any]],
    limit: int,
    offset: int,
) -> tuple[list[RowT], int]:
    """One page and the total in a single statement, so both come from the same snapshot."""
    query = select(row, func.count().over().label("total")).where(*where).order_by(*order)
    found = session.execute(query.limit(limit).offset(offset)).all()
    if found:
        return [r[0] for r in found], int(found[0][1])
    # An empty page carries no count; nothing on it can disagree with a separate one.
    return [], session.scalar(select(func.count()).select_from(row).where(*where)) or 0


class SqlOpsStore:
    """Alarms, work orders, credit, rule versions and documents in a relational database.

    Call open() first: it migrates the schema to the newest version.  Each call runs in its own
    session and transaction, so one writer thread and many API threads may share the store.
    """

    def __init__(self, settings: DatabaseSettings) -> None:
        self._settings = settings
        self._url = parse_url(settings.url)
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None

    def open(self) -> None:
        """Migrate to the newest schema and get ready to serve."""
        upgrade(self._settings.url)
        self._engine = make_engine(self._settings.url, echo=self._settings.echo)
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        log.info("operational store open: %s", describe(self._url))

    def close(self) -> None:
        """Close every pooled connection."""
        if self._engine is not None:
            self._engine.dispose()
        self._engine, self._sessions = None, None

    @contextmanager
    def _tx(self, doing: str) -> Iterator[Session]:
        """A session in a transaction, committed on success; database errors become StoreError."""
        if self._sessions is None:
            raise StoreError(
                f"{doing}: the store is not open; call open() first", backend=BACKEND, retryable=False
            )
        try:
            with self._sessions.begin() as session:
                yield session
        except SQLAlchemyError as err:
            raise translate(err, self._url, doing) from err
        except NotJsonError as err:  # psycopg serialises JSON itself, outside SQLAlchemy's wrapping
            raise not_json(err, doing) from err

    def _upsert(self, session: Session, row: type[Base], values: dict[str, Any]) -> None:
        """Insert `values`, or update every non-key column of the row with the same primary key."""
        dialect = session.get_bind().dialect.name
        session.execute(_upsert_statement(dialect, row.__tablename__, tuple(values)), values)

    def _upsert_many(self, session: Session, row: type[Base], rows: list[dict[str, Any]]) -> None:
        """`_upsert` for many rows of the same columns and distinct keys, as one statement."""
        dialect = session.get_bind().dialect.name
        session.execute(_upsert_statement(dialect, row.__tablename__, tuple(rows[0])), rows)

    def _append(self, doing: str, row: type[Base], items: Sequence[BaseModel]) -> None:
        if not items:
            return
        with self._tx(doing) as session:
            session.execute(insert(row), [_columns(item) for item in items])

    # --- alarms ---------------------------------------------------------------------------------

    def save_alarm(self, alarm: Alarm) -> None:
        """Insert or replace the alarm with this id."""
        with self._tx(f"saving alarm {alarm.id}") as session:
            self._upsert(session, AlarmRow, _columns(alarm))

    def save_alarms(self, alarms: Sequence[Alarm]) -> None:
        """Insert or replace several alarms (distinct ids) in one transaction."""
        if not alarms:
            return
        with self._tx(f"saving alarm(s) {', '.join(a.id for a in alarms)}") as session:
            self._upsert_many(session, AlarmRow, [_columns(a) for a in alarms])

    def add_alarm_events(self, events: Sequence[AlarmEvent]) -> None:
        """Append history lines; their alarms must have been saved."""
        ids = sorted({e.alarm_id for e in events})
        self._append(f"adding {len(events)} event(s) of alarm(s) {', '.join(ids)}", AlarmEventRow, events)

    def get_alarm(self, alarm_id: str) -> Alarm | None:
        """The alarm with this id, or None."""
        with self._tx(f"reading alarm {alarm_id}") as session:
            row = session.get(AlarmRow, alarm_id)
            return None if row is None else Alarm.model_validate(row, from_attributes=True)

    def list_alarms(
        self,
        *,
        states: Sequence[AlarmState] | None = None,
        site: str | None = None,
        since_ts: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Alarm], int]:
        """One page of alarms, last updated first, and how many match in all (since_ts: updated since)."""
        _check_page(limit, offset)
        where: list[ColumnElement[bool]] = []
        if states is not None:
            where.append(AlarmRow.state.in_([AlarmState(s).value for s in states]))
        if site is not None:
            where.append(AlarmRow.site == site)
        if since_ts is not None:
            where.append(AlarmRow.updated_ts >= since_ts)
        order = (AlarmRow.updated_ts.desc(), AlarmRow.id.desc())
        with self._tx("listing alarms") as session:
            rows, total = _page(session, AlarmRow, where, order, limit, offset)
            return [Alarm.model_validate(r, from_attributes=True) for r in rows], total

    def alarm_history(self, alarm_id: str) -> list[AlarmEvent]:
        """Every event of the alarm, oldest first."""
        query = (
            select(AlarmEventRow)
            .where(AlarmEventRow.alarm_id == alarm_id)
            .order_by(AlarmEventRow.ts, AlarmEventRow.id)
        )
        with self._tx(f"reading the history of alarm {alarm_id}") as session:
            return [AlarmEvent.model_validate(r, from_attributes=True) for r in session.scalars(query)]

    def open_alarms(self) -> list[Alarm]:
        """Alarms not cleared, oldest first: loaded at start so a restart continues where it left off."""
        query = (
            select(AlarmRow)
            .where(AlarmRow.state.not_in(CLOSED_ALARM_STATES))
            .order_by(AlarmRow.created_ts, AlarmRow.id)
        )
        with self._tx("reading open alarms") as session:
            return [Alarm.model_validate(r, from_attributes=True) for r in session.scalars(query)]

    # --- work orders ----------------------------------------------------------------------------

    def save_work_order(self, order: WorkOrder) -> None:
        """Insert or replace the work order with this id; its alarm must have been saved."""
        with self._tx(f"saving work order {order.id}") as session:
            self._upsert(session, WorkOrderRow, _columns(order))

    def save_work_orders(self, orders: Sequence[WorkOrder]) -> None:
        """Insert or replace several work orders (distinct ids) in one transaction."""
        if not orders:
            return
        with self._tx(f"saving work order(s) {', '.join(o.id for o in orders)}") as session:
            self._upsert_many(session, WorkOrderRow, [_columns(o) for o in orders])

    def add_work_order_steps(self, steps: Sequence[WorkOrderStep]) -> None:
        """Append steps; their work orders must have been saved."""
        ids = sorted({s.work_order_id for s in steps})
        self._append(
            f"adding {len(steps)} step(s) of work order(s) {', '.join(ids)}", WorkOrderStepRow, steps
        )

    def get_work_order(self, order_id: str) -> WorkOrder | None:
        """The work order with this id, or None."""
        with self._tx(f"reading work order {order_id}") as session:
            row = session.get(WorkOrderRow, order_id)
            return None if row is None else WorkOrder.model_validate(row, from_attributes=True)

    def list_work_orders(
        self,
        *,
        states: Sequence[WorkOrderState] | None = None,
        party_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[WorkOrder], int]:
        """One page of work orders, newest first, and how many match in all."""
        _check_page(limit, offset)
        where: list[ColumnElement[bool]] = []
        if states is not None:
            where.append(WorkOrderRow.state.in_([WorkOrderState(s).value for s in states]))
        if party_id is not None:
            where.append(WorkOrderRow.party_id == party_id)
        order = (WorkOrderRow.created_ts.desc(), WorkOrderRow.id.desc())
        with self._tx("listing work orders") as session:
            rows, total = _page(session, WorkOrderRow, where, order, limit, offset)
            return [WorkOrder.model_validate(r, from_attributes=True) for r in rows], total

    def work_order_steps(self, order_id: str) -> list[WorkOrderStep]:
        """Every step of the work order, oldest first."""
        query = (
            select(WorkOrderStepRow)
            .where(WorkOrderStepRow.work_order_id == order_id)
            .order_by(WorkOrderStepRow.ts, WorkOrderStepRow.id)
        )
        with self._tx(f"reading the steps of work order {order_id}") as session:
            return [WorkOrderStep.model_validate(r, from_attributes=True) for r in session.scalars(query)]

    def open_work_orders(self) -> list[WorkOrder]:
        """Work orders not closed, oldest first."""
        query = (
            select(WorkOrderRow)
            .where(WorkOrderRow.state.not_in(CLOSED_WORK_ORDER_STATES))
            .order_by(WorkOrderRow.created_ts, WorkOrderRow.id)
        )
        with self._tx("reading open work orders") as session:
            return [WorkOrder.model_validate(r, from_attributes=True) for r in session.scalars(query)]

    # --- credit ---------------------------------------------------------------------------------

    def add_credit_events(self, events: Sequence[CreditEvent]) -> None:
        """Append credit changes."""
        self._append(f"adding {len(events)} credit event(s)", CreditEventRow, events)

    def credit_scores(self) -> dict[str, float]:
        """Latest score per party that has any event (by time, then by order of writing)."""
        ranked = select(
            CreditEventRow.party_id,
            CreditEventRow.score_after,
            func.row_number()
            .over(
                partition_by=CreditEventRow.party_id,
                order_by=(CreditEventRow.ts.desc(), CreditEventRow.id.desc()),
            )
            .label("rank"),
        ).subquery()
        query = select(ranked.c.party_id, ranked.c.score_after).where(ranked.c.rank == 1)
        with self._tx("reading credit scores") as session:
            return {party: float(score) for party, score in session.execute(query)}

    def credit_history(self, party_id: str) -> list[CreditEvent]:
        """Every credit change of the party, oldest first."""
        query = (
            select(CreditEventRow)
            .where(CreditEventRow.party_id == party_id)
            .order_by(CreditEventRow.ts, CreditEventRow.id)
        )
        with self._tx(f"reading the credit history of {party_id}") as session:
            return [CreditEvent.model_validate(r, from_attributes=True) for r in session.scalars(query)]

    # --- rules and documents --------------------------------------------------------------------

    def save_rule_version(
        self, rule_id: str, version: int, body: dict[str, Any], actor: str, ts: int
    ) -> None:
        """Keep every version of a rule created or edited through the API (same version: replaced)."""
        values = {"rule_id": rule_id, "version": version, "body": body, "actor": actor, "ts": ts}
        with self._tx(f"saving version {version} of rule {rule_id}") as session:
            self._upsert(session, RuleVersionRow, values)

    def rule_versions(self, rule_id: str) -> list[tuple[int, dict[str, Any], str, int]]:
        """(version, body, actor, ts) of every version of the rule, oldest first."""
        query = (
            select(RuleVersionRow).where(RuleVersionRow.rule_id == rule_id).order_by(RuleVersionRow.version)
        )
        with self._tx(f"reading the versions of rule {rule_id}") as session:
            return [(r.version, r.body, r.actor, r.ts) for r in session.scalars(query)]

    def latest_rules(self) -> list[dict[str, Any]]:
        """The newest version of every API-managed rule, by rule id (deleted rules: {'deleted': true})."""
        ranked = select(
            RuleVersionRow.rule_id,
            RuleVersionRow.body,
            func.row_number()
            .over(partition_by=RuleVersionRow.rule_id, order_by=RuleVersionRow.version.desc())
            .label("rank"),
        ).subquery()
        query = select(ranked.c.body).where(ranked.c.rank == 1).order_by(ranked.c.rule_id)
        with self._tx("reading the latest rules") as session:
            return list(session.scalars(query))

    def save_document(self, name: str, body: dict[str, Any]) -> None:
        """Replace the named document whole."""
        values = {"name": name, "body": body, "updated_ts": now_ms()}
        with self._tx(f"saving document {name}") as session:
            self._upsert(session, DocumentRow, values)

    def save_encoded_document(self, name: str, body: bytes | Encoded) -> None:
        """As `save_document`, with the document already encoded as JSON (core/steps.py)."""
        text = (body.assemble() if isinstance(body, Encoded) else body).decode()
        self.save_document(name, cast(dict[str, Any], JsonText(text)))

    def load_document(self, name: str) -> dict[str, Any] | None:
        """The named document, or None."""
        with self._tx(f"reading document {name}") as session:
            row = session.get(DocumentRow, name)
            return None if row is None else row.body


@lru_cache(maxsize=256)
def _upsert_statement(dialect: str, table_name: str, columns: tuple[str, ...]) -> Executable:
    """The insert-or-update statement of a table and column set, built once: building its `excluded`
    alias is most of the cost of a small write, and alarms and commands are written one by one."""
    table = Base.metadata.tables[table_name]
    keys = [c.name for c in table.primary_key.columns]
    if dialect == "postgresql":
        pg = pg_insert(table)
        return pg.on_conflict_do_update(
            index_elements=keys, set_={k: pg.excluded[k] for k in columns if k not in keys}
        )
    lite = sqlite_insert(table)
    return lite.on_conflict_do_update(
        index_elements=keys, set_={k: lite.excluded[k] for k in columns if k not in keys}
    )
