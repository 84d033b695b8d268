"""The console channel: chat with the bot in a terminal, as any person of the roster.

It goes through the same ``Conversation`` as Telegram. Buttons are shown as numbered choices; typing
the number presses the button. ``/doi`` switches person, ``/thoat`` (or end of input) quits.

A text of several lines is one message, as in a chat app: a paste in a terminal that supports
bracketed paste arrives between ``ESC[200~`` and ``ESC[201~`` and is read whole; after ``/assign``
(waiting for a letter) the lines typed or pasted are gathered until an empty line.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlmodel import select

from bot.numbered import NumberedChoices
from handlers.chat import Incoming, IncomingFile, Reply, Sender
from handlers.conversation import Conversation
from handlers.texts import ROLE_LABELS
from schedules.clock import Clock, SystemClock
from storage.db import Database
from storage.models import ChannelIdentity, Person, Unit
from storage.queries import bind_identity, get_state, list_people

CHANNEL = "console"
QUIT = {"/thoat", "/thoát", "/quit", "/exit"}
SEND_FILE = {"/gui", "/gửi", "/send"}
SWITCH = {"/doi", "/đổi", "/switch"}

Reader = Callable[[str], Awaitable[str | None]]
Writer = Callable[[str], None]

PASTE_START = "\x1b[200~"
PASTE_END = "\x1b[201~"
BRACKETED_PASTE_ON = "\x1b[?2004h"
BRACKETED_PASTE_OFF = "\x1b[?2004l"
MULTILINE_STATES = {"assign_wait"}
"""Conversation steps that wait for a long text (a letter, after /assign): read until an empty line."""

CONSOLE_HELP = (
    "Trên máy này còn có:\n"
    "/gui ĐƯỜNG_DẪN — gửi một tệp từ máy (như đính kèm tệp trong chat), ví dụ /gui ~/baocao.pdf\n"
    "/doi — đổi người (đóng vai người khác trong danh sách)\n"
    "/thoat — thoát\n"
    "Dán văn bản nhiều dòng: dán một lần rồi nhấn Enter; sau /assign, kết thúc bằng một dòng trống."
)
MULTILINE_HINT = "(Dán hoặc gõ nội dung, có thể nhiều dòng; kết thúc bằng một dòng trống.)"


def gui_usage() -> str:
    return "Cách dùng: /gui đường/dẫn/tệp.pdf — gửi một tệp từ máy này."


def no_such_file(path_text: str) -> str:
    return f"Không tìm thấy tệp «{path_text}» trên máy này. Hãy kiểm tra lại đường dẫn, ví dụ /gui ~/baocao.pdf"


def not_a_file(path_text: str) -> str:
    return f"«{path_text}» là một thư mục, không phải tệp. Hãy chỉ đường dẫn tới một tệp, ví dụ /gui ~/baocao.pdf"


async def stdin_reader(prompt: str) -> str | None:
    """Read one line from the terminal without blocking the event loop; None at end of input."""
    sys.stdout.write(prompt)
    sys.stdout.flush()
    line = await asyncio.to_thread(sys.stdin.readline)
    return line.rstrip("\n") if line else None


def stdout_writer(text: str) -> None:
    print(text, flush=True)


class ConsoleChannel:
    def __init__(self, conversation: Conversation, db: Database, clock: Clock, *,
                 read: Reader = stdin_reader, write: Writer = stdout_writer, outbox_dir: Path | None = None,
                 after_message: Callable[[], Awaitable[object]] | None = None) -> None:
        self.conversation = conversation
        self.after_message = after_message
        self.db = db
        self.clock = clock
        self.read = read
        self.write = write
        self.outbox_dir = outbox_dir
        self.numbered = NumberedChoices(db, CHANNEL)

    async def run(self) -> None:
        self.write("Đôn Đốc — trò chuyện thử trên máy (console). Gõ /thoat để thoát, /doi để đổi người.")
        terminal = self.read is stdin_reader and sys.stdin.isatty() and sys.stdout.isatty()
        if terminal:  # a paste then arrives marked, and is read as one message
            sys.stdout.write(BRACKETED_PASTE_ON)
            sys.stdout.flush()
        try:
            while True:
                person = await self.pick_person()
                if person is None:
                    return
                if not await self.chat_as(person):
                    return
        finally:
            if terminal:
                sys.stdout.write(BRACKETED_PASTE_OFF)
                sys.stdout.flush()

    async def read_message(self, prompt: str, *, multiline: bool = False) -> str | None:
        """One message: a line; a bracketed paste (all its lines); or, with ``multiline``, every line up to
        an empty one. None at the end of input (with nothing read)."""
        line = await self.read(prompt)
        if line is None:
            return None
        if PASTE_START in line:
            lines = [line]
            while PASTE_END not in lines[-1]:
                more = await self.read("")
                if more is None:
                    break
                lines.append(more)
            text = "\n".join(lines).replace(PASTE_START, "").replace(PASTE_END, "")
            return text.strip("\n")
        if not multiline or not line.strip():
            return line
        lines = [line]
        while True:
            more = await self.read("… ")
            if more is None or not more.strip():
                break
            lines.append(more)
        return "\n".join(lines)

    async def pick_person(self) -> Person | None:
        async with self.db.session() as session:
            rows = await list_people(session)
        if not rows:
            self.write("Chưa có ai trong danh sách. Hãy chạy: dondoc roster import TỆP (hoặc dondoc demo).")
            return None
        rows.sort(key=lambda row: (["leader", "coordinator", "admin", "head", "officer"].index(row[0].role)
                                   if row[0].role in ROLE_LABELS else 9, row[1].code if row[1] else ""))
        self.write("\nBạn là ai? Chọn số:")
        for index, (person, unit) in enumerate(rows, start=1):
            self.write(f"  {index:>2}. {person.name} — {ROLE_LABELS.get(person.role, person.role)}"
                       + (f", {unit.name}" if unit else ""))
        while True:
            line = await self.read("Số> ")
            if line is None or line.strip() in QUIT:
                return None
            picked = self._pick(line, rows)
            if picked is not None:
                return picked
            self.write(f"Không hiểu «{line.strip()}». Hãy gõ một số từ 1 đến {len(rows)}, hoặc một phần họ tên.")

    @staticmethod
    def _pick(line: str, rows: list[tuple[Person, Unit | None]]) -> Person | None:
        text = line.strip()
        if text.isdigit() and 1 <= int(text) <= len(rows):
            return rows[int(text) - 1][0]
        matches = [p for p, _ in rows if text and text.lower() in p.name.lower()]
        return matches[0] if len(matches) == 1 else None

    async def chat_as(self, person: Person) -> bool:
        """Chat until the user switches (True) or quits (False)."""
        sender = Sender(channel=CHANNEL, user_id=str(person.id), chat_id=str(person.id), name=person.name)
        async with self.db.session() as session:
            await bind_identity(session, person, channel=CHANNEL, external_id=sender.user_id,
                                chat_id=sender.chat_id, username=None, now=self.clock.now())
        self.write(f"\nBạn đang là {person.name}. Gõ /help để xem các lệnh.")
        # The greeting keeps the choices of a message that came for this person meanwhile (typing its number works).
        await self.deliver(await self.conversation.handle(Incoming.from_text(sender, "/help")), sender, turn=False)
        self.write(CONSOLE_HELP)
        multiline = False
        while True:
            line = await self.read_message(f"{person.name}> ", multiline=multiline)
            multiline = False
            if line is None or line.strip() in QUIT:
                return False
            if line.strip() in SWITCH:
                return True
            if not line.strip():
                continue
            command, _, argument = line.strip().partition(" ")
            if command in SEND_FILE and (problem := self.file_problem(argument.strip().strip('"'))):
                self.write(problem)
                continue
            await self.deliver(await self.conversation.handle(await self.incoming(sender, line)), sender)
            if command.lower() in ("/help", "/start"):
                self.write(CONSOLE_HELP)
            if await self.waits_for_long_text(person):
                multiline = True
                self.write(MULTILINE_HINT)
            if self.after_message is not None:
                await self.after_message()

    async def waits_for_long_text(self, person: Person) -> bool:
        async with self.db.session() as session:
            state = await get_state(session, person.id, self.clock.now())
        return state is not None and state.kind in MULTILINE_STATES

    @staticmethod
    def file_problem(path_text: str) -> str | None:
        """Why ``/gui path`` cannot send anything (said here: the chat would not know the command), or None."""
        if not path_text:
            return gui_usage()
        path = Path(path_text).expanduser()
        if path.is_dir():
            return not_a_file(path_text)
        if not path.is_file():
            return no_such_file(path_text)
        return None

    async def incoming(self, sender: Sender, line: str) -> Incoming:
        text = line.strip()
        command, _, argument = text.partition(" ")
        if command in SEND_FILE:
            return self.file_message(sender, argument.strip().strip('"'))
        return await self.numbered.incoming(sender, text, self.clock.now())

    @staticmethod
    def file_message(sender: Sender, path_text: str) -> Incoming:
        """``/gui đường/dẫn/tệp.pdf [chú thích]``: send a file from this computer, as if attached in chat."""
        path = Path(path_text).expanduser()

        async def fetch() -> bytes:
            return await asyncio.to_thread(path.read_bytes)

        size = path.stat().st_size if path.is_file() else None
        if size is None:
            return Incoming.from_text(sender, f"/gui {path_text}")
        return Incoming(sender=sender, file=IncomingFile(path.name, size, None, fetch, str(path)))

    async def deliver(self, replies: list[Reply], sender: Sender, *, turn: bool = True) -> None:
        for reply in await self.numbered.show(sender.chat_id, replies, self.clock.now(), turn=turn):
            self.write("")
            self.write(reply.text)
            for attachment in (reply.document, reply.image):
                if attachment is not None:
                    self.write(f"  📎 {self.save(attachment.name, attachment.data)}")

    def save(self, name: str, data: bytes) -> str:
        if self.outbox_dir is None:
            return f"{name} ({len(data)} byte)"
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        path = self.outbox_dir / Path(name).name
        path.write_bytes(data)
        return str(path)


async def fetch_local(channel: str, ref: str) -> bytes:
    """Fetch again a file sent from this computer (the reference is its path)."""
    if channel != CHANNEL:
        raise ValueError(f"cannot fetch a {channel} file from the console")
    return await asyncio.to_thread(Path(ref).read_bytes)


class ConsoleTransport:
    """Messages queued for console identities (other people of the roster) are printed here, their
    buttons as numbered choices that person can type once they take the keyboard (``/doi``)."""

    channel = CHANNEL

    def __init__(self, db: Database, write: Writer = stdout_writer, clock: Clock | None = None) -> None:
        self.db = db
        self.write = write
        self.clock = clock or SystemClock()
        self.numbered = NumberedChoices(db, CHANNEL)

    async def deliver(self, chat_id: str, reply: Reply) -> str | None:
        async with self.db.session() as session:
            person = (await session.exec(
                select(Person).join(ChannelIdentity, ChannelIdentity.person_id == Person.id)
                .where(ChannelIdentity.channel == CHANNEL, ChannelIdentity.chat_id == chat_id))).first()
        name = person.name if person else f"#{chat_id}"
        [shown] = await self.numbered.show(chat_id, [reply], self.clock.now(), turn=False)
        self.write(f"\n📨 [Tin nhắn gửi tới {name}]\n{shown.text}")
        for attachment in (reply.image, reply.document):
            if attachment is not None:
                self.write(f"  📎 {attachment.name} ({len(attachment.data)} byte)")
        return None
