"""The roster of units and people: import from CSV or XLSX, all or nothing.

A roster file is either an XLSX workbook with a sheet of units and a sheet of people, or CSV files
(UTF-8, with or without BOM), one for units and one for people, told apart by their headers.
Column headers may be English or Vietnamese. Every bad row is reported with its file, sheet and row
number, all in one pass (unknown unit codes included), and nothing is written unless every row is
good. Re-importing the same file changes nothing; an edited file updates the records in place (units
by code, people by name within their unit). Nobody is deleted: units and people missing from a file
stay as they are.

Identity: a name is compared exactly after ``clean`` (Unicode NFC, zero-width and other invisible
format characters removed, runs of white space made one space), never with its tone marks stripped:
"Nguyễn Thị Hương" and "Nguyễn Thị Hường" are two people. A name that differs from the stored one only
in normalisation (a re-import saved by another program) is the same name and is not rewritten.
Every field's length is checked per row against its column, so nothing is cut or refused by the
database later.
"""

from __future__ import annotations

import csv
import functools
import io
import unicodedata
from zipfile import BadZipFile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from collections.abc import Iterable

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AuditEvent, Person, Role, Unit, UnitKind

MAX_ROSTER_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000


# Invisible characters that make two identical-looking names differ: zero-width space / joiners,
# word joiner, BOM, soft hyphen, bidi marks and embeddings (all of Unicode category Cf).
def clean(text: str) -> str:
    """A name or code as it is stored and compared: NFC, no invisible format characters, single spaces."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return " ".join(text.split())


@functools.lru_cache(maxsize=1 << 16)
def fold(text: str) -> str:
    """Lower case, no diacritics, single spaces: for matching names and headers typed by people.

    Cached: the board sorts thousands of unit names by it on every ``/status``, and names repeat."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return " ".join(text.lower().split())


UNIT_COLUMNS = {
    "code": ("code", "ma", "ma don vi", "unit code"),
    "name": ("name", "ten", "ten don vi", "unit name"),
    "kind": ("kind", "loai", "loai don vi", "type"),
    "groups": ("groups", "group", "nhom", "cac nhom"),
    "aliases": ("aliases", "ten goi khac", "viet tat", "ten viet tat"),
}
PERSON_COLUMNS = {
    "name": ("name", "ho ten", "ho va ten", "ten"),
    "role": ("role", "vai tro", "chuc trach"),
    "unit": ("unit", "unit code", "ma don vi", "don vi"),
    "phone": ("phone", "dien thoai", "so dien thoai", "sdt"),
}
REQUIRED_UNIT = ("code", "name", "kind")
REQUIRED_PERSON = ("name", "role", "unit")

KIND_WORDS = {
    UnitKind.department: ("department", "phong", "co quan chuyen mon", "phong ban", "van phong"),
    UnitKind.commune: ("commune", "xa", "thi tran", "phuong", "ubnd xa"),
    UnitKind.service_unit: ("service_unit", "service unit", "don vi su nghiep", "su nghiep"),
    UnitKind.office: ("office", "ubnd", "lanh dao", "uy ban"),
}
ROLE_WORDS = {
    Role.officer: ("officer", "can bo", "cong chuc", "chuyen vien", "cong chuc phu trach"),
    Role.head: ("head", "truong phong", "thu truong", "chu tich xa", "chu tich ubnd xa", "truong don vi"),
    Role.coordinator: ("coordinator", "dieu phoi", "phong noi vu", "dau moi"),
    Role.leader: ("leader", "lanh dao", "chu tich", "pho chu tich"),
    Role.admin: ("admin", "quan tri"),
}


def column_limit(model, column: str) -> int | None:
    """The declared length of a string column (``VARCHAR(n)``), from the table itself."""
    return getattr(model.__table__.c[column].type, "length", None)


MAX_LIST_ITEM = 255
"""Groups and aliases live in a JSON list; each item is still held to a sensible length."""


def too_long(label: str, value: str, limit: int | None) -> str | None:
    if limit is not None and len(value) > limit:
        return f"{label} dài {len(value)} ký tự, tối đa {limit}"
    return None


def _lookup(words: dict[Any, tuple[str, ...]], value: str) -> Any | None:
    folded = fold(value)
    for key, options in words.items():
        if folded in options:
            return key
    return None


def role_from_text(text: str) -> Role | None:
    """A role typed by people, English or Vietnamese («cán bộ», «trưởng phòng», «điều phối», «lãnh đạo» …)."""
    return _lookup(ROLE_WORDS, text) if text and text.strip() else None


def kind_from_text(text: str) -> UnitKind | None:
    """A unit kind typed by people, English or Vietnamese («phòng», «xã», «đơn vị sự nghiệp», «ubnd» …)."""
    return _lookup(KIND_WORDS, text) if text and text.strip() else None


def split_list(value: str | None) -> list[str]:
    if not value:
        return []
    parts = value.replace("|", ";").split(";")
    return [part.strip() for part in parts if part.strip()]


@dataclass(frozen=True)
class RowError:
    source: str
    row: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}, dòng {self.row}: {self.message}"


class RosterError(ValueError):
    """The file cannot be imported; ``errors`` names every bad row."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(error) for error in errors))


@dataclass(frozen=True)
class UnitRow:
    source: str
    row: int
    code: str
    name: str
    kind: UnitKind
    groups: tuple[str, ...]
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class PersonRow:
    source: str
    row: int
    name: str
    role: Role
    unit_code: str
    phone: str | None


@dataclass
class Table:
    """Rows of one sheet or CSV file, with the header already read."""

    source: str
    header: list[str]
    rows: list[tuple[int, list[str]]]


@dataclass
class RosterFile:
    units: list[UnitRow] = field(default_factory=list)
    people: list[PersonRow] = field(default_factory=list)


@dataclass
class ImportResult:
    units_created: int = 0
    units_updated: int = 0
    units_unchanged: int = 0
    people_created: int = 0
    people_updated: int = 0
    people_unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.units_created or self.units_updated or self.people_created or self.people_updated)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def read_tables(path: Path) -> list[Table]:
    """Read the sheets of an XLSX workbook or the single table of a CSV file."""
    if path.stat().st_size > MAX_ROSTER_BYTES:
        raise RosterError([RowError(path.name, 0, "tệp quá lớn (tối đa 10 MB)")])
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    if suffix in (".csv", ".txt"):
        return [_read_csv(path)]
    raise RosterError([RowError(path.name, 0, "chỉ nhận tệp .csv hoặc .xlsx")])


def _read_csv(path: Path) -> Table:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterError([RowError(path.name, 0, "tệp CSV phải mã hoá UTF-8")]) from exc
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    rows = [(number, [_cell(value) for value in row]) for number, row in enumerate(reader, start=1)]
    return _table(path.name, rows)


def _read_xlsx(path: Path) -> list[Table]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, BadZipFile, KeyError, OSError, ValueError) as exc:
        raise RosterError([RowError(path.name, 0, "không đọc được tệp Excel")]) from exc
    try:
        tables = []
        for sheet in workbook.worksheets:
            rows = []
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                if number > MAX_ROWS + 1:
                    raise RosterError([RowError(f"{path.name} [{sheet.title}]", number, "quá nhiều dòng")])
                rows.append((number, [_cell(value) for value in values]))
            tables.append(_table(f"{path.name} [{sheet.title}]", rows))
        return tables
    finally:
        workbook.close()


def _table(source: str, rows: list[tuple[int, list[str]]]) -> Table:
    rows = [(number, values) for number, values in rows if any(values)]
    if not rows:
        return Table(source, [], [])
    (_, header), *body = rows
    return Table(source, [fold(name) for name in header], body)


def _columns(header: list[str], spec: dict[str, tuple[str, ...]]) -> dict[str, int]:
    found = {}
    for key, names in spec.items():
        for index, name in enumerate(header):
            if name in names:
                found[key] = index
                break
    return found


def _kind_of(table: Table) -> str | None:
    units = _columns(table.header, UNIT_COLUMNS)
    people = _columns(table.header, PERSON_COLUMNS)
    if all(key in people for key in REQUIRED_PERSON) and "role" in people:
        return "people"
    if all(key in units for key in REQUIRED_UNIT):
        return "units"
    return None


def parse_roster(paths: list[Path], *, known_units: Iterable[str] | None = None) -> RosterFile:
    """Read and check every row of the given files; raise ``RosterError`` listing every bad row.

    With ``known_units`` (the unit codes already in the database), a person whose unit is neither in
    the files nor known is a bad row too, reported in the same pass as the others."""
    errors: list[RowError] = []
    roster = RosterFile()
    people_tables: list[Table] = []
    for path in paths:
        try:
            tables = read_tables(path)
        except RosterError as exc:
            errors.extend(exc.errors)
            continue
        for table in tables:
            if not table.header:
                continue
            kind = _kind_of(table)
            if kind == "units":
                _parse_units(table, roster, errors)
            elif kind == "people":
                people_tables.append(table)
            else:
                missing_u = [k for k in REQUIRED_UNIT if k not in _columns(table.header, UNIT_COLUMNS)]
                missing_p = [k for k in REQUIRED_PERSON if k not in _columns(table.header, PERSON_COLUMNS)]
                errors.append(RowError(
                    table.source, 1,
                    "thiếu cột: bảng đơn vị cần " + ", ".join(missing_u)
                    + "; bảng cán bộ cần " + ", ".join(missing_p),
                ))
    units = None
    if known_units is not None:  # people are checked after every unit of the files is known
        units = {clean(code).upper() for code in known_units} | {unit.code.upper() for unit in roster.units}
    for table in people_tables:
        _parse_people(table, roster, errors, units)
    if not roster.units and not roster.people and not errors:
        errors.append(RowError(", ".join(p.name for p in paths), 0, "không có dòng dữ liệu nào"))
    if errors:
        raise RosterError(sorted(errors, key=lambda e: (e.source, e.row)))
    return roster


def _value(values: list[str], columns: dict[str, int], key: str) -> str:
    index = columns.get(key)
    return clean(values[index]) if index is not None and index < len(values) else ""


def _parse_units(table: Table, roster: RosterFile, errors: list[RowError]) -> None:
    columns = _columns(table.header, UNIT_COLUMNS)
    seen = {unit.code.upper(): unit for unit in roster.units}
    for number, values in table.rows:
        code = _value(values, columns, "code")
        name = _value(values, columns, "name")
        kind_text = _value(values, columns, "kind")
        groups = tuple(split_list(_value(values, columns, "groups")))
        aliases = tuple(split_list(_value(values, columns, "aliases")))
        problems = []
        if not code:
            problems.append("thiếu mã đơn vị")
        if not name:
            problems.append("thiếu tên đơn vị")
        kind = _lookup(KIND_WORDS, kind_text) if kind_text else None
        if kind is None:
            problems.append(f"loại đơn vị không hợp lệ «{kind_text}» (phòng / xã / đơn vị sự nghiệp / ubnd)")
        if code and code.upper() in seen:
            problems.append(f"mã «{code}» trùng với dòng {seen[code.upper()].row}")
        problems += filter(None, (
            too_long("mã đơn vị", code, column_limit(Unit, "code")),
            too_long("tên đơn vị", name, column_limit(Unit, "name")),
            *(too_long(f"nhóm «{group[:20]}…»", group, MAX_LIST_ITEM) for group in groups),
            *(too_long(f"tên gọi khác «{alias[:20]}…»", alias, MAX_LIST_ITEM) for alias in aliases),
        ))
        if problems:
            errors.append(RowError(table.source, number, "; ".join(problems)))
            continue
        unit = UnitRow(table.source, number, code, name, kind, groups, aliases)
        seen[code.upper()] = unit
        roster.units.append(unit)


def _parse_people(table: Table, roster: RosterFile, errors: list[RowError], units: set[str] | None) -> None:
    columns = _columns(table.header, PERSON_COLUMNS)
    seen: dict[tuple[str, str], int] = {(row.name, row.unit_code.upper()): row.row for row in roster.people}
    for number, values in table.rows:
        name = _value(values, columns, "name")
        role_text = _value(values, columns, "role")
        unit_code = _value(values, columns, "unit")
        phone = _value(values, columns, "phone") or None
        problems = []
        if not name:
            problems.append("thiếu họ tên")
        role = _lookup(ROLE_WORDS, role_text) if role_text else None
        if role is None:
            problems.append(f"vai trò không hợp lệ «{role_text}» (cán bộ / trưởng phòng / điều phối / lãnh đạo)")
        if not unit_code:
            problems.append("thiếu mã đơn vị")
        elif units is not None and unit_code.upper() not in units:
            problems.append(f"mã đơn vị «{unit_code}» không có trong danh sách đơn vị")
        key = (name, unit_code.upper())
        if name and key in seen:
            problems.append(f"«{name}» trùng với dòng {seen[key]}")
        problems += filter(None, (
            too_long("họ tên", name, column_limit(Person, "name")),
            too_long("số điện thoại", phone or "", column_limit(Person, "phone")),
        ))
        if problems:
            errors.append(RowError(table.source, number, "; ".join(problems)))
            continue
        seen[key] = number
        roster.people.append(PersonRow(table.source, number, name, role, unit_code, phone))


async def known_unit_codes(session: AsyncSession) -> list[str]:
    return list((await session.exec(select(Unit.code))).all())


async def load_roster(session: AsyncSession, paths: list[Path], *, now: datetime, actor: str) -> ImportResult:
    """Check the files against the units already known (every bad row in one pass), then import them."""
    roster = parse_roster(paths, known_units=await known_unit_codes(session))
    return await import_roster(session, roster, now=now, actor=actor)


async def import_roster(
    session: AsyncSession, roster: RosterFile, *, now: datetime, actor: str
) -> ImportResult:
    """Write a checked roster in the caller's transaction; unknown unit codes fail the whole import."""
    units = {clean(unit.code).upper(): unit for unit in (await session.exec(select(Unit))).all()}
    file_codes = {row.code.upper() for row in roster.units}
    errors = [
        RowError(row.source, row.row, f"mã đơn vị «{row.unit_code}» không có trong danh sách đơn vị")
        for row in roster.people
        if row.unit_code.upper() not in file_codes and row.unit_code.upper() not in units
    ]
    if errors:
        raise RosterError(errors)

    result = ImportResult()
    for row in roster.units:
        unit = units.get(row.code.upper())
        wanted = {"name": row.name, "kind": row.kind.value, "groups": list(row.groups), "aliases": list(row.aliases)}
        if unit is not None and clean(unit.name) == row.name:
            wanted["name"] = unit.name  # the same name in another normalisation: keep it as stored
        outcome, unit = await _upsert(session, unit, lambda: Unit(code=row.code, created_at=now, updated_at=now),
                                      wanted, now=now, actor=actor, entity="unit", extra={})
        units[row.code.upper()] = unit
        setattr(result, f"units_{outcome}", getattr(result, f"units_{outcome}") + 1)

    people = (await session.exec(select(Person))).all()
    by_key = {(clean(person.name), person.unit_id): person for person in people}
    for row in roster.people:
        unit = units[row.unit_code.upper()]
        key = (row.name, unit.id)
        person = by_key.get(key)
        # Exact after cleaning: same key, so a stored name in another normalisation is kept as it is.
        wanted = {"name": person.name if person is not None else row.name, "role": row.role.value, "phone": row.phone}
        outcome, by_key[key] = await _upsert(
            session, person, lambda: Person(unit_id=unit.id, created_at=now, updated_at=now), wanted,
            now=now, actor=actor, entity="person", extra={"unit": unit.code})
        setattr(result, f"people_{outcome}", getattr(result, f"people_{outcome}") + 1)
    await session.flush()
    return result


async def _upsert(session: AsyncSession, record, make, wanted: dict, *, now: datetime, actor: str, entity: str,
                  extra: dict):
    """Create ``record`` (with ``make()``) or update it in place to ``wanted``, with its audit entry.

    Returns ("created" | "updated" | "unchanged", the record)."""
    if record is None:
        record = make()
        for field_name, value in wanted.items():
            setattr(record, field_name, value)
        session.add(record)
        await session.flush()
        session.add(_audit(now, actor, f"{entity}.created", entity, record.id, {**wanted, **extra}))
        return "created", record
    before = {field_name: getattr(record, field_name) for field_name in wanted}
    if before == wanted and record.active:
        return "unchanged", record
    for field_name, value in wanted.items():
        setattr(record, field_name, value)
    record.active = True
    record.updated_at = now
    session.add(_audit(now, actor, f"{entity}.updated", entity, record.id, {"before": before, "after": wanted}))
    return "updated", record


def _audit(now: datetime, actor: str, action: str, entity: str, entity_id: int | None, details: dict) -> AuditEvent:
    return AuditEvent(at=now, actor=actor, action=action, entity=entity, entity_id=entity_id, details=details)
