"""The demo: Vĩnh Linh's departments and communes with the tasks of letter 000 (November 2024).

The deadlines are moved forward by whole weeks so that they lie ahead of today and keep their
weekdays, order and spacing; the phrases are rewritten to the new dates and parsed like any letter.
A few units have already delivered, so a newcomer sees a live board at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


from schedules.deadlines import parse_deadline
from storage.db import Database
from storage.models import Assignment, AssignmentStatus, AuditEvent, Person, Unit
from storage.queries import count_rows, create_task, find_or_create_letter, resolve_units
from storage.status import transition

# code, name, kind, groups, aliases
UNITS: tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("UBND", "UBND huyện Vĩnh Linh", "office", (), ("UBND huyện",)),
    ("VP", "Văn phòng HĐND và UBND huyện", "department", ("cqcm",), ("VP HĐND&UBND", "Văn phòng HĐND&UBND", "Văn phòng")),
    ("NV", "Phòng Nội vụ", "department", ("cqcm",), ("Phòng NV",)),
    ("TP", "Phòng Tư pháp", "department", ("cqcm",), ("Phòng TP",)),
    ("TCKH", "Phòng Tài chính - Kế hoạch", "department", ("cqcm",), ("Phòng TC-KH", "Phòng TCKH")),
    ("VHTT", "Phòng Văn hóa và Thông tin", "department", ("cqcm",), ("Phòng VH&TT", "Phòng VHTT")),
    ("KTHT", "Phòng Kinh tế và Hạ tầng", "department", ("cqcm",), ("Phòng KT&HT", "Phòng KTHT")),
    ("GDDT", "Phòng Giáo dục và Đào tạo", "department", ("cqcm",), ("Phòng GD&ĐT", "Phòng GDĐT")),
    ("TTVH", "Trung tâm Văn hóa - Thông tin và Thể thao huyện", "service_unit", ("dvsn",), ("Trung tâm VH-TT&TT",)),
    ("HOXA", "Thị trấn Hồ Xá", "commune", ("xa",), ("TT Hồ Xá",)),
    ("CUATUNG", "Thị trấn Cửa Tùng", "commune", ("xa",), ("TT Cửa Tùng",)),
    ("BENQUAN", "Thị trấn Bến Quan", "commune", ("xa",), ("TT Bến Quan",)),
    ("VINHTHAI", "Xã Vĩnh Thái", "commune", ("xa",), ()),
    ("VINHTU", "Xã Vĩnh Tú", "commune", ("xa",), ()),
    ("VINHCHAP", "Xã Vĩnh Chấp", "commune", ("xa",), ()),
    ("TRUNGNAM", "Xã Trung Nam", "commune", ("xa",), ()),
    ("KIMTHACH", "Xã Kim Thạch", "commune", ("xa",), ()),
    ("VINHLONG", "Xã Vĩnh Long", "commune", ("xa",), ()),
    ("VINHKHE", "Xã Vĩnh Khê", "commune", ("xa",), ()),
    ("VINHHA", "Xã Vĩnh Hà", "commune", ("xa",), ()),
    ("VINHLAM", "Xã Vĩnh Lâm", "commune", ("xa",), ()),
)

# name, role, unit code — fictional people
PEOPLE: tuple[tuple[str, str, str], ...] = (
    ("Lê Quang Vinh", "leader", "UBND"),
    ("Hoàng Thị Mai", "leader", "UBND"),
    ("Nguyễn Thị Hương", "coordinator", "NV"),
    ("Trần Văn Bình", "head", "NV"),
    ("Phạm Minh Đức", "officer", "NV"),
    ("Võ Thị Lan", "officer", "VP"),
    ("Đặng Văn Hải", "head", "VP"),
    ("Ngô Thị Thu", "officer", "TP"),
    ("Bùi Văn Nam", "head", "TP"),
    ("Lý Thị Hoa", "officer", "TCKH"),
    ("Phan Văn Tùng", "head", "TCKH"),
    ("Trương Thị Yến", "officer", "VHTT"),
    ("Hồ Văn Sơn", "head", "VHTT"),
    ("Dương Thị Ngọc", "officer", "KTHT"),
    ("Mai Văn Phúc", "head", "KTHT"),
    ("Đinh Thị Trang", "officer", "GDDT"),
    ("Tô Văn Lợi", "head", "GDDT"),
    ("Cao Thị Nhung", "officer", "TTVH"),
    ("Lưu Văn Thắng", "head", "TTVH"),
    ("Nguyễn Văn An", "officer", "HOXA"),
    ("Trần Văn Quang", "head", "HOXA"),
    ("Lê Thị Thảo", "officer", "CUATUNG"),
    ("Hà Văn Đông", "head", "CUATUNG"),
    ("Phạm Thị Vân", "officer", "BENQUAN"),
    ("Vũ Văn Toàn", "head", "BENQUAN"),
    ("Nguyễn Thị Bích", "officer", "VINHTHAI"),
    ("Lê Văn Cường", "head", "VINHTHAI"),
    ("Hoàng Văn Dũng", "officer", "VINHTU"),
    ("Trần Thị Hạnh", "head", "VINHTU"),
    ("Phan Thị Kim", "officer", "VINHCHAP"),
    ("Đỗ Văn Long", "head", "VINHCHAP"),
    ("Võ Văn Minh", "officer", "TRUNGNAM"),
    ("Nguyễn Văn Khoa", "head", "TRUNGNAM"),
    ("Lê Thị Phương", "officer", "KIMTHACH"),
    ("Trần Văn Hiếu", "head", "KIMTHACH"),
    ("Hồ Thị Loan", "officer", "VINHLONG"),
    ("Ngô Văn Thành", "head", "VINHLONG"),
    ("Đặng Thị Oanh", "officer", "VINHKHE"),
    ("Bùi Văn Tâm", "head", "VINHKHE"),
    ("Lâm Thị Xuân", "officer", "VINHHA"),
    ("Châu Văn Phước", "head", "VINHHA"),
    ("Kiều Thị Duyên", "officer", "VINHLAM"),
    ("Mạc Văn Hùng", "head", "VINHLAM"),
)

LETTER_NUMBER = "2146/UBND-NV"
LETTER_SUBJECT = "V/v báo cáo kết quả thực hiện các nhiệm vụ cải cách hành chính năm 2024"
LETTER_DATE = date(2024, 11, 8)


@dataclass(frozen=True)
class DemoTask:
    title: str
    keyword: str
    day: date
    units: str
    lead: str | None = None
    signed: bool = False
    template: str | None = None
    deliverable: str | None = None


# The tasks of letter 000, in the letter's order, with its dates.
TASKS: tuple[DemoTask, ...] = (
    DemoTask("Báo cáo kết quả thực hiện Kế hoạch CCHC năm 2024 kèm tài liệu minh chứng",
             "chậm nhất ngày", date(2024, 11, 15), "VP,NV,TP,TCKH,VHTT", signed=True,
             template="Phụ lục 1, 2, 3",
             deliverable="Báo cáo rà soát, mức độ hoàn thành nhiệm vụ CCHC năm 2024; tài liệu minh chứng dạng pdf, ký số"),
    DemoTask("Báo cáo kết quả thực hiện KH 38/KH-UBND (PAPI, SIPAS) và KH 133/KH-UBND",
             "chậm nhất ngày", date(2024, 11, 15), "group:cqcm,group:dvsn,group:xa", template="Phụ lục 4"),
    DemoTask("Báo cáo kết quả thực hiện nội dung cam kết theo Công văn 527/UBND-NV",
             "chậm nhất ngày", date(2024, 11, 15), "group:cqcm,group:dvsn", template="Phụ lục 5"),
    DemoTask("Báo cáo kết quả thực hiện Bản cam kết số 07/CK-BCĐCCHC (PAR Index, SIPAS, PAPI, PCI)",
             "chậm nhất ngày", date(2024, 11, 22), "group:cqcm,group:dvsn,group:xa"),
    DemoTask("Báo cáo kết quả xử lý kiến nghị của Người khuyết tật", "trước ngày", date(2024, 11, 20),
             "VP", lead="VP"),
    DemoTask("Báo cáo kết quả xử lý kiến nghị của thanh niên", "trước ngày", date(2024, 11, 20),
             "NV", lead="NV"),
    DemoTask("Báo cáo kết quả xử lý kiến nghị của Doanh nghiệp", "trước ngày", date(2024, 11, 20),
             "KTHT", lead="KTHT"),
)

# (task index, unit code, final status): who has already delivered in the demo
DELIVERED: tuple[tuple[int, str, str], ...] = (
    (0, "NV", "accepted"),
    (0, "TP", "submitted"),
    (1, "HOXA", "accepted"),
    (1, "VINHTHAI", "submitted"),
    (1, "TP", "submitted"),
    (3, "CUATUNG", "submitted"),
    (5, "NV", "submitted"),
)


def week_shift(today: date, earliest: date, *, lead_days: int = 3) -> timedelta:
    """Whole weeks that move ``earliest`` to at least ``lead_days`` after ``today`` (weekdays kept)."""
    gap = (today + timedelta(days=lead_days) - earliest).days
    weeks = max(0, -(-gap // 7))
    return timedelta(weeks=weeks)


def shifted_tasks(today: date) -> list[tuple[DemoTask, str]]:
    """The demo tasks with their phrases rewritten to dates that lie ahead of ``today``."""
    shift = week_shift(today, min(task.day for task in TASKS))
    return [(task, f"{task.keyword} {(task.day + shift).strftime('%d/%m/%Y')}") for task in TASKS]


class DemoNotEmpty(RuntimeError):
    """The demo is only loaded into an empty database."""


async def is_empty(db: Database) -> bool:
    async with db.session() as session:
        return await count_rows(session, Unit) == 0


async def load_demo(db: Database, *, now: datetime, tz: ZoneInfo) -> None:
    """Load the demo roster and tasks into an empty database, in one unit of work."""
    async with db.session() as session:
        if await count_rows(session, Unit):
            raise DemoNotEmpty("the database already has a roster")
        units = {}
        for code, name, kind, groups, aliases in UNITS:
            unit = Unit(code=code, name=name, kind=kind, groups=list(groups), aliases=list(aliases),
                        created_at=now, updated_at=now)
            session.add(unit)
            units[code] = unit
        await session.flush()
        people = {}
        for name, role, code in PEOPLE:
            person = Person(name=name, role=role, unit_id=units[code].id, created_at=now, updated_at=now)
            session.add(person)
            people.setdefault((code, role), person)
        await session.flush()
        session.add(AuditEvent(at=now, actor="demo", action="demo.loaded", entity="roster", details={
            "units": len(UNITS), "people": len(PEOPLE)}))

        today = now.astimezone(tz).date()
        letter = await find_or_create_letter(session, number=LETTER_NUMBER, subject=LETTER_SUBJECT,
                                             issued_on=LETTER_DATE, now=now)
        coordinator = people[("NV", "coordinator")]
        created = []
        for task, phrase in shifted_tasks(today):
            deadline = parse_deadline(phrase, today, tz)
            assignees = await resolve_units(session, task.units)
            entry, assignments = await create_task(
                session, title=task.title, due_at=deadline.due_at, deadline_phrase=deadline.phrase,
                units=assignees, now=now, lead=units.get(task.lead) if task.lead else None,
                signature_required=task.signed, template=task.template, deliverable=task.deliverable,
                letter=letter, created_by=coordinator)
            created.append({a.unit_id: a for a in assignments})
        for index, code, final in DELIVERED:
            assignment: Assignment = created[index][units[code].id]
            officer = people[(code, "officer")]
            await transition(session, assignment, AssignmentStatus.submitted, now=now, actor_person_id=officer.id)
            if final == "accepted":
                await transition(session, assignment, AssignmentStatus.accepted, now=now,
                                 actor_person_id=coordinator.id, note="Hồ sơ đầy đủ")
