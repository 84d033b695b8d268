"""Roster import: CSV (with or without BOM) and XLSX, all or nothing, idempotent, updates in place."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlmodel import select

from storage.models import AuditEvent, Person, Unit
import unicodedata

from storage.roster import RosterError, clean, import_roster, load_roster, parse_roster
from tests.conftest import vn

NOW = vn(2024, 11, 1, 8)

UNITS_CSV = """code,name,kind,groups,aliases
NV,Phòng Nội vụ,phòng,cqcm,Phòng NV
TCKH,Phòng Tài chính - Kế hoạch,department,cqcm,Phòng TC-KH|Phòng TCKH
HOXA,Thị trấn Hồ Xá,xã,xa,
UBND,UBND huyện Vĩnh Linh,ubnd,,
"""
PEOPLE_CSV = """Họ tên;Vai trò;Mã đơn vị;Điện thoại
Nguyễn Thị Hương;điều phối;NV;0912000001
Lê Quang Vinh;lãnh đạo;UBND;
Nguyễn Văn An;cán bộ;HOXA;0912000003
Trần Văn Quang;head;HOXA;
"""


def write(tmp_path: Path, name: str, text: str, *, bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


async def snapshot(db) -> tuple:
    async with db.session() as session:
        units = [(u.code, u.name, u.kind, tuple(u.groups), tuple(u.aliases))
                 for u in (await session.exec(select(Unit).order_by(Unit.code))).all()]
        people = [(p.name, p.role, p.unit_id, p.phone)
                  for p in (await session.exec(select(Person).order_by(Person.name))).all()]
        audits = len((await session.exec(select(AuditEvent))).all())
    return units, people, audits


async def run_import(db, paths):
    async with db.session() as session:
        return await load_roster(session, paths, now=NOW, actor="test")


async def test_csv_with_and_without_bom_imports_and_reimport_changes_nothing(db, tmp_path):
    paths = [write(tmp_path, "units.csv", UNITS_CSV, bom=True), write(tmp_path, "people.csv", PEOPLE_CSV)]
    result = await run_import(db, paths)
    assert (result.units_created, result.people_created) == (4, 4)
    first = await snapshot(db)
    assert ("TCKH", "Phòng Tài chính - Kế hoạch", "department", ("cqcm",), ("Phòng TC-KH", "Phòng TCKH")) in first[0]
    again = await run_import(db, paths)
    assert not again.changed and (again.units_unchanged, again.people_unchanged) == (4, 4)
    assert await snapshot(db) == first


async def test_edited_file_updates_in_place(db, tmp_path):
    await run_import(db, [write(tmp_path, "u.csv", UNITS_CSV), write(tmp_path, "p.csv", PEOPLE_CSV)])
    edited_units = UNITS_CSV.replace("Thị trấn Hồ Xá,xã,xa", "Thị trấn Hồ Xá (mới),xã,xa;tt")
    edited_people = PEOPLE_CSV.replace("Nguyễn Văn An;cán bộ;HOXA;0912000003", "Nguyễn Văn An;cán bộ;HOXA;0999999999")
    result = await run_import(db, [write(tmp_path, "u.csv", edited_units), write(tmp_path, "p.csv", edited_people)])
    assert (result.units_updated, result.units_created, result.people_updated, result.people_created) == (1, 0, 1, 0)
    async with db.session() as session:
        unit = (await session.exec(select(Unit).where(Unit.code == "HOXA"))).one()
        assert unit.name == "Thị trấn Hồ Xá (mới)" and unit.groups == ["xa", "tt"]
        person = (await session.exec(select(Person).where(Person.name == "Nguyễn Văn An"))).one()
        assert person.phone == "0999999999"
        updates = (await session.exec(select(AuditEvent).where(AuditEvent.action == "person.updated"))).all()
        assert updates[0].details["before"]["phone"] == "0912000003"


async def test_xlsx_with_two_sheets(db, tmp_path):
    book = Workbook()
    units = book.active
    units.title = "Đơn vị"
    units.append(["Mã", "Tên", "Loại", "Nhóm"])
    units.append(["VP", "Văn phòng HĐND và UBND huyện", "phòng", "cqcm"])
    units.append(["VINHTU", "Xã Vĩnh Tú", "xã", "xa"])
    people = book.create_sheet("Cán bộ")
    people.append(["Họ tên", "Vai trò", "Mã đơn vị", "Điện thoại"])
    people.append(["Hoàng Văn Dũng", "cán bộ", "VINHTU", 912000004])
    path = tmp_path / "roster.xlsx"
    book.save(path)
    result = await run_import(db, [path])
    assert (result.units_created, result.people_created) == (2, 1)
    _, people_rows, _ = await snapshot(db)
    assert people_rows[0][3] == "912000004"


@pytest.mark.parametrize("units_csv, people_csv, expected", [
    (UNITS_CSV.replace("HOXA,Thị trấn Hồ Xá,xã,xa,", "NV,Thị trấn Hồ Xá,xã,xa,"), PEOPLE_CSV,
     ["units.csv, dòng 4: mã «NV» trùng với dòng 2"]),
    (UNITS_CSV, PEOPLE_CSV.replace("Trần Văn Quang;head", "Trần Văn Quang;thủ quỹ"),
     ["people.csv, dòng 5: vai trò không hợp lệ «thủ quỹ»"]),
    (UNITS_CSV.replace("UBND huyện Vĩnh Linh,ubnd", "UBND huyện Vĩnh Linh,trường học"), PEOPLE_CSV,
     ["units.csv, dòng 5: loại đơn vị không hợp lệ «trường học»"]),
    (UNITS_CSV, PEOPLE_CSV.replace(";HOXA;0912000003", ";;0912000003"), ["people.csv, dòng 4: thiếu mã đơn vị"]),
    (UNITS_CSV.replace("code,name,kind", "code,ten goi,kind"), PEOPLE_CSV, ["units.csv, dòng 1: thiếu cột"]),
])
async def test_bad_rows_are_named_and_nothing_is_written(db, tmp_path, units_csv, people_csv, expected):
    await run_import(db, [write(tmp_path, "seed_u.csv", "code,name,kind\nOLD,Phòng cũ,phòng\n")])
    before = await snapshot(db)
    with pytest.raises(RosterError) as info:
        await run_import(db, [write(tmp_path, "units.csv", units_csv), write(tmp_path, "people.csv", people_csv)])
    message = str(info.value)
    for line in expected:
        assert line in message
    assert await snapshot(db) == before


async def test_unknown_unit_in_people_fails_the_whole_import(db, tmp_path):
    people = PEOPLE_CSV + "Người Lạ;cán bộ;NOWHERE;\n"
    with pytest.raises(RosterError) as info:
        await run_import(db, [write(tmp_path, "u.csv", UNITS_CSV), write(tmp_path, "people.csv", people)])
    assert "people.csv, dòng 6: mã đơn vị «NOWHERE» không có trong danh sách đơn vị" in str(info.value)
    assert await snapshot(db) == ([], [], 0)


def test_unreadable_files_get_a_clear_answer(tmp_path):
    bad = tmp_path / "roster.xlsx"
    bad.write_bytes(b"not a zip")
    with pytest.raises(RosterError, match="không đọc được tệp Excel"):
        parse_roster([bad])
    latin = tmp_path / "units.csv"
    latin.write_bytes("code,name,kind\nNV,Phòng Nội vụ,phòng\n".encode("utf-16"))
    with pytest.raises(RosterError, match="UTF-8"):
        parse_roster([latin])
    with pytest.raises(RosterError, match=".csv hoặc .xlsx"):
        parse_roster([write(tmp_path, "roster.pdf", "x")])


async def test_names_differing_only_in_tone_marks_are_two_people(db, tmp_path):
    people = "name,role,unit\nNguyễn Thị Hương;cán bộ;NV\n".replace(";", ",") + "Nguyễn Thị Hường,cán bộ,NV\n"
    result = await run_import(db, [write(tmp_path, "u.csv", UNITS_CSV), write(tmp_path, "p.csv", people)])
    assert result.people_created == 2
    _, rows, _ = await snapshot(db)
    assert {row[0] for row in rows} == {"Nguyễn Thị Hương", "Nguyễn Thị Hường"}


async def test_another_normalisation_or_invisible_characters_are_the_same_person(db, tmp_path):
    await run_import(db, [write(tmp_path, "u.csv", UNITS_CSV), write(tmp_path, "p.csv", PEOPLE_CSV)])
    before = await snapshot(db)
    nfd = unicodedata.normalize("NFD", PEOPLE_CSV)
    assert nfd != PEOPLE_CSV
    again = await run_import(db, [write(tmp_path, "p.csv", nfd)])
    assert not again.changed and again.people_unchanged == 4
    assert await snapshot(db) == before
    # a zero-width space, a no-break space and doubled spaces: still the same person, name not rewritten
    messy = PEOPLE_CSV.replace("Nguyễn Văn An", "Nguyễn\u200b Văn\u00a0\u00a0An\ufeff")
    again = await run_import(db, [write(tmp_path, "p.csv", messy)])
    assert not again.changed
    assert await snapshot(db) == before


async def test_a_name_stored_in_another_normalisation_is_kept_as_stored(db, tmp_path):
    await run_import(db, [write(tmp_path, "u.csv", UNITS_CSV)])
    stored = unicodedata.normalize("NFD", "Nguyễn Thị Hương")
    async with db.session() as session:
        unit = (await session.exec(select(Unit).where(Unit.code == "NV"))).one()
        session.add(Person(name=stored, role="coordinator", unit_id=unit.id, phone="0912000001",
                           created_at=NOW, updated_at=NOW))
    result = await run_import(db, [write(tmp_path, "p.csv", "name,role,unit,phone\n"
                                                              "Nguyễn Thị Hương,điều phối,NV,0912000001\n")])
    assert (result.people_created, result.people_updated, result.people_unchanged) == (0, 0, 1)
    async with db.session() as session:
        assert [p.name for p in (await session.exec(select(Person))).all()] == [stored]


def test_clean_keeps_tone_marks_and_removes_invisible_characters():
    assert clean(" Nguyễn\u200b  Thị\u200d Hường\u2060 ") == "Nguyễn Thị Hường"
    assert clean(unicodedata.normalize("NFD", "Hường")) == "Hường" != clean("Hương")
    assert clean("\u202eabc\u202c") == "abc"


async def test_over_long_fields_and_unknown_units_are_all_reported_in_one_pass(db, tmp_path):
    await run_import(db, [write(tmp_path, "seed_u.csv", "code,name,kind\nOLD,Phòng cũ,phòng\n")])
    before = await snapshot(db)
    units = UNITS_CSV + f"{'X' * 65},Đơn vị mã dài,xã,,\nDAI,{'Tên ' * 70},xã,,\n"
    people = (PEOPLE_CSV + f"{'Trần ' * 60};cán bộ;HOXA;\n" + "Người Lạ;cán bộ;NOWHERE;\n"
              + f"Lê Thị Số;cán bộ;HOXA;{'0' * 40}\n" + "Người Cũ;cán bộ;OLD;\n" + "Ai Đó;thủ quỹ;HOXA;\n")
    with pytest.raises(RosterError) as info:
        await run_import(db, [write(tmp_path, "units.csv", units), write(tmp_path, "people.csv", people)])
    message = str(info.value)
    for line in ("units.csv, dòng 6: mã đơn vị dài 65 ký tự, tối đa 64",
                 "units.csv, dòng 7: tên đơn vị dài 279 ký tự, tối đa 255",
                 "people.csv, dòng 6: họ tên dài 299 ký tự, tối đa 255",
                 "people.csv, dòng 7: mã đơn vị «NOWHERE» không có trong danh sách đơn vị",
                 "people.csv, dòng 8: số điện thoại dài 40 ký tự, tối đa 32",
                 "people.csv, dòng 10: vai trò không hợp lệ «thủ quỹ»"):
        assert line in message
    assert "dòng 9" not in message  # OLD is already in the database
    assert len(info.value.errors) == 6
    assert await snapshot(db) == before
