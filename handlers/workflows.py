"""Chat side of the office workflows (issue 11): the evidence bundle offered by ``/export``, explanations
(``handlers.explanations``), and the digest's workflow sections.

``register`` adds everything to the conversation; the hooks elsewhere are its call, ``maybe_file`` in the
conversation's file route and ``digest_sections`` in the digest.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING

from handlers import explanations, progress
from handlers.bundle import TELEGRAM_UPLOAD_LIMIT, bundle_name, bundle_rows, summary, write_bundle
from handlers.chat import Button, OutFile, Reply

if TYPE_CHECKING:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from sqlmodel.ext.asyncio.session import AsyncSession

    from handlers.conversation import Conversation, Request

BUNDLE_BUTTON = Button("📦 Gói minh chứng đã duyệt (zip)", "bundle")


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")


async def send_bundle(request: Request) -> list[Reply]:
    """The bundle of every accepted file as a document, when it fits Telegram's upload limit."""
    rows = await bundle_rows(request.session)
    if not rows:
        return [Reply("Chưa có minh chứng nào được duyệt, nên chưa có gì để đóng gói.")]
    estimate = sum(row.size for row in rows)
    if estimate > TELEGRAM_UPLOAD_LIMIT:
        return [Reply(f"Gói minh chứng khoảng {_mb(estimate)}, vượt giới hạn 50 MB bot được gửi qua chat. "
                      "Xuất trên máy chủ: dondoc export bundle --out minh-chung.zip "
                      "(có thể lọc --task #SỐ hoặc --unit MÃ).")]
    store, tz, now = request.ctx.store, request.ctx.tz, request.now

    def build() -> tuple[bytes, object]:
        with tempfile.TemporaryFile() as out:
            result = write_bundle(rows, store, out, tz=tz, now=now)
            out.seek(0)
            return out.read(), result

    data, result = await asyncio.to_thread(build)
    if len(data) > TELEGRAM_UPLOAD_LIMIT:
        return [Reply(f"Gói minh chứng {_mb(len(data))} vượt giới hạn 50 MB. Xuất trên máy chủ: "
                      "dondoc export bundle --out minh-chung.zip")]
    return [Reply(summary(result), document=OutFile(bundle_name(now, tz), data, "application/zip"))]


def _with_bundle_offer(handler):
    async def export(request: Request) -> list[Reply]:
        replies = await handler(request)
        if replies:
            replies[-1].buttons = [*replies[-1].buttons, [BUNDLE_BUTTON]]
        return replies

    return export


def _with_progress_sheet(handler):
    async def export(request: Request) -> list[Reply]:
        replies = await handler(request)
        entries = await progress.progress(request.session)
        for reply in replies:
            if entries and reply.document is not None and reply.document.name.endswith(".xlsx"):
                data = await asyncio.to_thread(progress.with_progress_sheet, reply.document.data, entries,
                                               request.ctx.tz)
                reply.document = OutFile(reply.document.name, data, reply.document.mime_type)
        return replies

    return export


def _with_progress_board(handler):
    async def status(request: Request) -> list[Reply]:
        replies = await handler(request)
        if request.role.value in ("coordinator", "leader", "admin"):
            text = progress.render(await progress.progress(request.session), request.ctx.tz)
            if text:
                replies.append(Reply(text))
        return replies

    return status


def _with_task_progress(handler):
    async def task_units(request: Request, task_id: int) -> list[Reply]:
        replies = await handler(request, task_id)
        if request.role.value in ("coordinator", "leader", "admin"):
            entries = await progress.progress(request.session, task_id=task_id)
            if entries:
                replies.append(Reply("\n".join(["🔢 Tiến độ:", *progress.render_task(entries[0], request.ctx.tz)])))
        return replies

    return task_units


def register(conversation: Conversation) -> None:
    from handlers.conversation import ALL_ROLES, STAFF, Choice, Command

    export = conversation.commands.get("export")
    if export is not None:
        conversation.register(Command(export.name, _with_bundle_offer(_with_progress_sheet(export.handler)),
                                      export.roles, export.summary))
    status = conversation.commands.get("status")
    if status is not None:
        conversation.register(Command(status.name, _with_progress_board(status.handler), status.roles, status.summary))
    task = conversation.choices.get("task")
    if task is not None:
        conversation.register_choice(Choice(task.prefix, _with_task_progress(task.handler), task.roles, task.arity))
    from handlers.recurring import chat_command

    conversation.register(Command("dinhky", chat_command, STAFF, "nhiệm vụ định kỳ: xem, tạo, dừng"))
    conversation.register(Command("tiendo", progress.command, ALL_ROLES,
                                  "báo cáo số lượng: /tiendo 12/15 (lãnh đạo: xem tiến độ)"))
    conversation.register_choice(Choice("bundle", send_bundle, STAFF, 0))
    explanations.register(conversation)


async def maybe_file(request: Request) -> list[Reply] | None:
    """A file that belongs to a workflow (a PDF attached to an explanation); None: not ours."""
    return await explanations.maybe_file(request)


async def maybe_text(request: Request) -> list[Reply] | None:
    """Plain text that is a progress count («12/15») from a unit with one count task; None: not ours."""
    if request.role.value not in ("officer", "head"):
        return None
    return await progress.report(request, request.incoming.text, strict=False)


DIGEST_FOOTER = "\n\n📎"


async def digest_sections(session: AsyncSession, *, now: datetime, tz: ZoneInfo) -> Callable[[int], list[str]]:
    """The digest's workflow sections (explanations, progress counts): read once, rendered with a list cap for
    each version of its text (Telegram's, Zalo's shorter one)."""
    from storage import explanations as xp
    from storage.progress import progress as progress_entries

    pending = await xp.pending_explanations(session)
    missing = await xp.overdue_without_explanation(session, now)
    entries = await progress_entries(session)
    return lambda cap: (explanations.render_digest_lines(pending, missing, tz, cap)
                        + progress.render_digest_lines(entries, cap))


def insert_sections(text: str, lines: list[str]) -> str:
    """The digest's text with ``lines`` before its footer."""
    if not lines:
        return text
    extra = "\n" + "\n".join(lines)  # the sections open with a blank line, as the digest's own
    head, footer, tail = text.rpartition(DIGEST_FOOTER)
    return f"{head}{extra}{footer}{tail}" if footer else text + extra


async def with_digest_sections(session: AsyncSession, text: str, *, now: datetime, tz: ZoneInfo) -> str:
    """The digest's text with the workflow sections (explanations, progress counts) before its footer."""
    return insert_sections(text, (await digest_sections(session, now=now, tz=tz))(10))
