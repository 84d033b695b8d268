"""The console channel: chat with the bot in a terminal, as any person of the roster.

It goes through the same ``Conversation`` as Telegram. Buttons are shown as numbered choices; typing
the number presses the button. ``/doi`` switches person, ``/thoat`` (or end of input) quits.
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
from storage.queries import bind_identity, list_people

CHANNEL = "console"
QUIT = {"/thoat", "/thoát", "/quit", "/exit"}
SEND_FILE = {"/gui", "/gửi", "/send"}
SWITCH = {"/doi", "/đổi", "/switch"}

Reader = Callable[[str], Awaitable[str | None]]
Writer = Callable[[str], None]


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
        while True:
            person = await self.pick_person()
            if person is None:
                return
            if not await self.chat_as(person):
                return

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
        while True:
            line = await self.read(f"{person.name}> ")
            if line is None or line.strip() in QUIT:
                return False
            if line.strip() in SWITCH:
                return True
            if not line.strip():
                continue
            await self.deliver(await self.conversation.handle(await self.incoming(sender, line)), sender)
            if self.after_message is not None:
                await self.after_message()

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
