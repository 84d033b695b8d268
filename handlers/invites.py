"""Invites for everyone not yet joined: fresh single-use codes, and a printable sheet with a QR code each.

``dondoc invite --missing`` issues one invite per active person with no linked chat, bound to that person
(so redeeming it links their chat to their roster entry, not a new person), and writes a workbook to print
and hand out: name, unit, role, code, link, expiry, and the link as a QR code image (``segno``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import segno
from openpyxl import Workbook
from openpyxl.drawing.image import Image
from openpyxl.styles import Alignment, Font
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.texts import ROLE_LABELS, instant
from storage.models import Person, Role, Unit
from storage.outbox import people_without_chat
from storage.queries import create_invite


@dataclass(frozen=True)
class IssuedInvite:
    person: Person
    unit: Unit | None
    code: str
    link: str
    expires_at: datetime


async def invite_missing(session: AsyncSession, *, now: datetime, ttl: timedelta,
                         link_for: Callable[[str], str]) -> list[IssuedInvite]:
    """A fresh invite for each active person who has not joined any chat (an audit entry each)."""
    issued = []
    for unit, people in await people_without_chat(session):
        for person in people:
            invite = await create_invite(session, unit=unit, role=Role(person.role), now=now, ttl=ttl, person=person,
                                         actor="cli:invite --missing")
            issued.append(IssuedInvite(person, unit, invite.code, link_for(invite.code), invite.expires_at))
    return issued


QR_SCALE = 4
HEADERS = ("Họ và tên", "Đơn vị", "Vai trò", "Mã mời", "Đường dẫn", "Hết hạn", "Mã QR")


def invite_sheet(issued: list[IssuedInvite], tz: ZoneInfo) -> bytes:
    """The printable workbook: one row per person, the link as a QR code in the last column."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Mã mời"
    sheet.append(HEADERS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for column, width in zip("ABCDEFG", (28, 30, 22, 16, 48, 18, 22)):
        sheet.column_dimensions[column].width = width
    for row, entry in enumerate(issued, start=2):
        sheet.append([entry.person.name, entry.unit.name if entry.unit else "", ROLE_LABELS.get(entry.person.role,
                      entry.person.role), entry.code, entry.link, instant(entry.expires_at, tz)])
        for cell in sheet[row]:
            cell.alignment = Alignment(vertical="center", wrap_text=True)
        png = io.BytesIO()
        qr = segno.make(entry.link, error="m")
        qr.save(png, kind="png", scale=QR_SCALE, border=2)
        png.seek(0)
        image = Image(png)
        sheet.add_image(image, f"G{row}")
        sheet.row_dimensions[row].height = image.height * 0.75 + 6  # points; the image is in pixels
    sheet.print_title_rows = "1:1"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
