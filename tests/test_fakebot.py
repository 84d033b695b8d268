"""The fake Telegram Bot API, driven by the real aiogram client and dispatcher over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import Command, CommandObject
from aiogram.methods import TelegramMethod
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
)

from tests.fakebot import MAX_DOWNLOAD_SIZE, FakeBotApi, RateLimits
from tests.fakebot.server import WAIT_GUARD_S

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x02\x00\x00\x00\x03\x08\x02\x00\x00\x00"
    + b"\x00" * 32
)


def keyboard(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d)] for t, d in pairs]
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    """The lenient fake, for tests of the wire format (the strict default is tested on its own below)."""
    api = FakeBotApi(rate_limits=None, strict_chats=False)
    await api.start()
    try:
        yield api
    finally:
        await api.close()


@pytest.fixture
async def bot(fake: FakeBotApi) -> AsyncIterator[Bot]:
    client = fake.make_bot()
    try:
        yield client
    finally:
        await client.session.close()


async def raw_post(fake: FakeBotApi, method: str, **kwargs) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{fake.base_url}/bot{fake.token}/{method}", **kwargs) as resp:
            return resp.status, await resp.json()


# --------------------------------------------------------------------------- plain calls


async def test_get_me(bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123 and me.is_bot and me.username == "dondoc_bot"


async def test_send_message_with_inline_keyboard(fake: FakeBotApi, bot: Bot) -> None:
    fake.user(1001, "An")
    first = await bot.send_message(1001, "Chọn:", reply_markup=keyboard(("Đồng ý", "yes")))
    second = await bot.send_message(1001, "Lần hai")
    other = await bot.send_message(2002, "Chat khác")

    assert first.chat.id == 1001 and first.chat.type == "private"
    assert first.reply_markup.inline_keyboard[0][0].callback_data == "yes"
    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
    [entry] = fake.messages_to(1001)[:1]
    assert entry.method == "sendMessage" and entry.text == "Chọn:"
    assert entry.callback_data == ["yes"] and entry.button("Đồng").get("callback_data") == "yes"
    assert [m.text for m in fake.messages_to(1001)] == ["Chọn:", "Lần hai"]
    assert fake.calls_of("sendmessage")[0]["chat_id"] == "1001"


async def test_html_is_parsed_and_bad_html_rejected(fake: FakeBotApi, bot: Bot) -> None:
    message = await bot.send_message(7, "<b>Hạn</b> &lt;15/11&gt;", parse_mode="HTML")
    assert message.text == "Hạn <15/11>"
    assert fake.sent[-1].text == "<b>Hạn</b> &lt;15/11&gt;"
    assert fake.sent[-1].plain_text == "Hạn <15/11>"
    for bad in ("a<br>b", "<b>open", "x < y", "<b><i>x</b></i>"):
        with pytest.raises(TelegramBadRequest, match="can't parse entities"):
            await bot.send_message(7, bad, parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(7, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(7, "k", reply_markup=keyboard(("k", "d" * 65)))
    assert len(fake.sent) == 1


async def test_reply_parameters(fake: FakeBotApi, bot: Bot) -> None:
    user = fake.user(1001, "An")
    asked = user.send_text("Nộp ở đâu?")
    answer = await bot.send_message(
        1001, "Ở đây", reply_parameters=ReplyParameters(message_id=asked["message_id"])
    )
    assert answer.reply_to_message.message_id == asked["message_id"]
    assert fake.sent[-1].reply_to_message_id == asked["message_id"]
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(1001, "x", reply_parameters=ReplyParameters(message_id=999))


async def test_send_document_bytes_arrive_intact(fake: FakeBotApi, bot: Bot) -> None:
    message = await bot.send_document(
        1001,
        BufferedInputFile(PDF, filename="Báo cáo quý 4.pdf"),
        caption="<i>Biên nhận</i>",
        parse_mode="HTML",
        reply_markup=keyboard(("Xem", "view:1")),
    )
    entry = fake.sent[-1]
    assert entry.method == "sendDocument" and entry.document == PDF
    assert entry.filename == "Báo cáo quý 4.pdf" and entry.mime_type == "application/pdf"
    assert entry.caption == "<i>Biên nhận</i>" and entry.plain_text == "Biên nhận"
    assert entry.callback_data == ["view:1"]
    assert message.document.file_name == "Báo cáo quý 4.pdf"
    assert message.document.file_size == len(PDF)
    # The bot can download what it uploaded, and re-send it by file_id.
    assert (await bot.download(message.document.file_id)).read() == PDF
    again = await bot.send_document(1002, message.document.file_id)
    assert again.document.file_id == message.document.file_id
    assert fake.sent[-1].document == PDF


async def test_send_photo(fake: FakeBotApi, bot: Bot) -> None:
    photo = BufferedInputFile(PNG, filename="chart.png")
    message = await bot.send_photo(1001, photo, caption="Biểu đồ")
    assert fake.sent[-1].photo == PNG and fake.sent[-1].caption == "Biểu đồ"
    assert (message.photo[0].width, message.photo[0].height) == (2, 3)


async def test_get_file_and_download_user_document(fake: FakeBotApi, bot: Bot) -> None:
    user = fake.user(1001, "An")
    sent = user.send_document(PDF, "bao-cao.pdf", caption="Báo cáo")
    document = sent["document"]
    assert document["file_size"] == len(PDF) and document["mime_type"] == "application/pdf"

    file = await bot.get_file(document["file_id"])
    assert file.file_size == len(PDF) and file.file_path.endswith(".pdf")
    assert (await bot.download_file(file.file_path)).read() == PDF
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_get_file_refuses_files_over_20_mb(fake: FakeBotApi, bot: Bot) -> None:
    user = fake.user(1001, "An")
    big = user.send_document(bytes(MAX_DOWNLOAD_SIZE + 1), "scan.pdf")
    declared = user.send_document(b"%PDF-", "huge.pdf", file_size=50 * 1024 * 1024)
    at_limit = user.send_document(b"%PDF-", "ok.pdf", file_size=MAX_DOWNLOAD_SIZE)
    for message in (big, declared):
        assert message["document"]["file_size"] > MAX_DOWNLOAD_SIZE
        with pytest.raises(TelegramBadRequest, match="file is too big"):
            await bot.get_file(message["document"]["file_id"])
    assert (await bot.get_file(at_limit["document"]["file_id"])).file_size == MAX_DOWNLOAD_SIZE


async def test_edit_message_text_and_markup(fake: FakeBotApi, bot: Bot) -> None:
    user = fake.user(1001, "An")
    sent = await bot.send_message(1001, "Chờ duyệt", reply_markup=keyboard(("Duyệt", "ok")))
    undo = keyboard(("Hoàn", "undo"))
    edited = await bot.edit_message_text(
        "Đã duyệt", chat_id=1001, message_id=sent.message_id, reply_markup=undo
    )
    assert edited.text == "Đã duyệt" and edited.edit_date is not None
    current = fake.message(1001, sent.message_id)
    assert current["text"] == "Đã duyệt"
    assert [m.kind for m in fake.messages_to(1001)] == ["send", "edit"]
    assert fake.sent[0].text == "Chờ duyệt"  # history entries are never rewritten
    assert fake.sent[1].message_id == sent.message_id and fake.sent[1].callback_data == ["undo"]
    assert fake.messages_to(1001, edits=False) == [fake.sent[0]]

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "Đã duyệt", chat_id=1001, message_id=sent.message_id, reply_markup=undo
        )
    # Editing the text without a keyboard removes it, as in Telegram.
    await bot.edit_message_text("Xong", chat_id=1001, message_id=sent.message_id)
    assert "reply_markup" not in fake.message(1001, sent.message_id)
    await bot.edit_message_reply_markup(
        chat_id=1001, message_id=sent.message_id, reply_markup=keyboard(("Mở lại", "reopen"))
    )
    assert fake.sent[-1].method == "editMessageReplyMarkup"
    with pytest.raises(ValueError, match="no button 'ok'"):
        user.press(sent.message_id, "ok")
    user.press(sent.message_id, "reopen")

    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=1001, message_id=99)
    own = user.send_text("tin của tôi")
    with pytest.raises(TelegramBadRequest, match="can't be edited"):
        await bot.edit_message_text("x", chat_id=1001, message_id=own["message_id"])


async def test_answer_callback_query(fake: FakeBotApi, bot: Bot) -> None:
    user = fake.user(1001, "An")
    sent = await bot.send_message(1001, "Chọn", reply_markup=keyboard(("A", "a"), ("B", "b")))
    query = user.press(fake.sent[-1], "b")
    assert query["data"] == "b" and query["message"]["message_id"] == sent.message_id
    assert fake.pending_updates[-1]["callback_query"]["id"] == query["id"]

    assert await bot.answer_callback_query(query["id"], text="Đã nhận")
    assert fake.callback_answers[query["id"]]["text"] == "Đã nhận"
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query["id"])
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query("12345")


async def test_set_my_commands_per_scope(fake: FakeBotApi, bot: Bot) -> None:
    everyone = [BotCommand(command="start", description="Bắt đầu")]
    leader = everyone + [BotCommand(command="status", description="Tình hình")]
    assert await bot.set_my_commands(everyone, scope=BotCommandScopeAllPrivateChats())
    assert await bot.set_my_commands(leader, scope=BotCommandScopeChat(chat_id=1001))

    assert fake.commands({"type": "all_private_chats"}) == [
        {"command": "start", "description": "Bắt đầu"}
    ]
    assert [c["command"] for c in fake.commands({"type": "chat", "chat_id": 1001})] == [
        "start",
        "status",
    ]
    assert fake.commands() is None
    got = await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=1001))
    assert [c.command for c in got] == ["start", "status"]
    assert await bot.get_my_commands() == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Báo_cáo", description="x")])


async def test_webhook_is_recorded_and_blocks_get_updates(fake: FakeBotApi, bot: Bot) -> None:
    assert await bot.set_webhook("https://example.org/tg", secret_token="s3cret")
    assert fake.webhook["url"] == "https://example.org/tg"
    assert fake.webhook["secret_token"] == "s3cret"
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates(timeout=0)
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert fake.webhook is None
    assert await bot.get_updates(timeout=0) == []


# --------------------------------------------------------------------------- raw HTTP shapes


async def test_wire_format_unknown_method_token_and_case(fake: FakeBotApi) -> None:
    status, body = await raw_post(fake, "sendSticker", data={"chat_id": "1"})
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{fake.base_url}/bot999:WRONG/getMe") as resp:
            assert resp.status == 401 and (await resp.json())["ok"] is False
        async with http.get(f"{fake.base_url}/file/bot{fake.token}/documents/missing.pdf") as resp:
            assert resp.status == 404

    status, body = await raw_post(fake, "SENDMESSAGE", json={"chat_id": 5, "text": "json body"})
    assert status == 200 and body["ok"] and body["result"]["text"] == "json body"
    status, body = await raw_post(fake, "sendmessage", data={"chat_id": "5", "text": "form"})
    assert status == 200 and body["result"]["message_id"] == 2
    form = aiohttp.FormData()
    form.add_field("chat_id", "5")
    form.add_field("text", "multipart")
    form.add_field("reply_markup", '{"inline_keyboard": [[{"text": "x", "callback_data": "x"}]]}')
    form.add_field("ignored", b"\x00", filename="f.bin")  # forces multipart/form-data
    status, body = await raw_post(fake, "sendMessage", data=form)
    assert status == 200 and body["result"]["reply_markup"]["inline_keyboard"][0][0]["text"] == "x"
    assert [method for method, _ in fake.calls] == [
        "sendSticker",
        "sendMessage",
        "sendMessage",
        "sendMessage",
    ]  # the wrong-token call is refused before it is logged
    assert [m.text for m in fake.sent] == ["json body", "form", "multipart"]

    status, body = await raw_post(fake, "sendMessage", data={"chat_id": "5"})
    assert status == 400 and body == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: message text is empty",
    }


# --------------------------------------------------------------------------- long polling


async def test_get_updates_long_poll_waits_for_an_update(fake: FakeBotApi, bot: Bot) -> None:
    user = fake.user(1001, "An")
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_for_call("getUpdates")
    assert not poll.done()
    sent = user.send_text("xin chào")
    updates = await asyncio.wait_for(poll, WAIT_GUARD_S)
    assert [u.message.text for u in updates] == ["xin chào"]
    assert updates[0].message.message_id == sent["message_id"]
    assert updates[0].message.from_user.first_name == "An"

    # Unconfirmed updates come again; an offset confirms them.
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [updates[0].update_id]
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == []
    assert fake.pending_updates == []

    for n in range(5):
        user.send_text(f"m{n}")
    limited = await bot.get_updates(limit=2, timeout=0)
    assert [u.message.text for u in limited] == ["m0", "m1"]
    only_callbacks = await bot.get_updates(timeout=0, allowed_updates=["callback_query"])
    assert only_callbacks == []


async def test_newer_get_updates_terminates_the_older(fake: FakeBotApi, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_for_call("getUpdates")
    assert await bot.get_updates(timeout=0) == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await asyncio.wait_for(first, WAIT_GUARD_S)


async def test_dispatcher_polls_echoes_and_stops(fake: FakeBotApi, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message(Command("start"))
    async def start(message: Message, command: CommandObject) -> None:
        await message.answer(f"start:{command.args}")

    @dp.message(F.document)
    async def document(message: Message, bot: Bot) -> None:
        data = await bot.download(message.document.file_id)
        size = len(data.read())
        await message.answer(f"doc:{message.document.file_name}:{size}:{message.caption}")

    @dp.message(F.reply_to_message)
    async def reply(message: Message) -> None:
        await message.answer(f"reply-to:{message.reply_to_message.message_id}:{message.text}")

    @dp.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"echo:{message.text}", reply_markup=keyboard(("Ok", "ok")))

    @dp.callback_query(F.data == "ok")
    async def pressed(query: CallbackQuery) -> None:
        await query.answer("Đã ghi nhận")
        await query.message.edit_text("pressed")

    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False)
    )
    try:
        alice = fake.user(1001, "Alice", username="alice")
        bob = fake.user(1002, "Bob")

        alice.send_command("/start INV-42")
        assert (await alice.next_message()).text == "start:INV-42"

        alice.send_text("xin chào")
        echoed = await alice.next_message()
        assert echoed.text == "echo:xin chào" and echoed.callback_data == ["ok"]

        bob.send_document(PDF, "Báo cáo.pdf", caption="Q4")
        [doc_reply] = await fake.wait_for_sent(chat_id=1002)
        assert doc_reply.text == f"doc:Báo cáo.pdf:{len(PDF)}:Q4"

        alice.send_text("trả lời", reply_to=echoed.message_id)
        assert (await alice.next_message()).text == f"reply-to:{echoed.message_id}:trả lời"

        query = alice.press(echoed, "ok")
        edit = await alice.next_message()
        assert edit.is_edit and edit.message_id == echoed.message_id and edit.text == "pressed"
        await fake.wait_for_call(
            "answerCallbackQuery", lambda params: params["callback_query_id"] == query["id"]
        )
        assert fake.callback_answers[query["id"]]["text"] == "Đã ghi nhận"
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, WAIT_GUARD_S)
    assert polling.done() and polling.exception() is None
    # aiogram asked only for the update types it has handlers for.
    allowed = fake.calls_of("getUpdates")[0]["allowed_updates"]
    assert set(json.loads(allowed)) == {"message", "callback_query"}


async def test_wait_for_sent_times_out_with_context(fake: FakeBotApi, bot: Bot) -> None:
    await bot.send_message(1001, "đã gửi")
    with pytest.raises(TimeoutError, match="đã gửi"):
        await fake.wait_for_sent(chat_id=2002, timeout=0.05)
    since = len(fake.sent)
    waiting = asyncio.create_task(fake.wait_for_sent(chat_id=1001, since=since, count=2))
    await bot.send_message(1001, "một")
    await bot.send_message(2002, "khác")
    await bot.send_message(1001, "hai")
    assert [m.text for m in await waiting] == ["một", "hai"]


# --------------------------------------------------------------------------- limits and faults


async def test_rate_limits_answer_429_with_retry_after() -> None:
    clock = FakeClock()
    limits = RateLimits(global_per_s=3, per_chat_burst=1)
    async with FakeBotApi(rate_limits=limits, clock=clock, strict_chats=False) as fake:
        bot = fake.make_bot()
        try:
            await bot.send_message(1, "a")
            with pytest.raises(TelegramRetryAfter) as caught:
                await bot.send_message(1, "b")  # 1 message per second per chat
            assert caught.value.retry_after == 1
            await bot.send_message(2, "c")
            await bot.send_message(3, "d")
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(4, "e")  # 3 per second overall
            assert fake.too_many_requests == 2
            assert [m.text for m in fake.sent] == ["a", "c", "d"]

            clock.now += 1.0
            await bot.send_message(1, "b")

            status, body = await raw_post(fake, "sendMessage", data={"chat_id": "1", "text": "x"})
            assert status == 429 and body["error_code"] == 429
            assert body["parameters"]["retry_after"] == 1
            assert body["description"].startswith("Too Many Requests: retry after")

            # Groups: 20 messages per minute.
            for n in range(20):
                clock.now += 1.0
                await bot.send_message(-100, f"g{n}")
            clock.now += 1.0
            with pytest.raises(TelegramRetryAfter) as caught:
                await bot.send_message(-100, "g20")
            assert caught.value.retry_after == 40  # the first of the 20 leaves the window then
            clock.now += 40.0
            await bot.send_message(-100, "g20")
        finally:
            await bot.session.close()


async def test_fail_next_injects_errors(fake: FakeBotApi, bot: Bot) -> None:
    fake.fail_next("sendMessage", 500, "Internal Server Error")
    fake.fail_next("sendmessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    fake.fail_next("getMe", 502, "Bad Gateway", count=2)
    with pytest.raises(TelegramServerError):
        await bot.send_message(1, "a")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(1, "a")
    assert caught.value.retry_after == 7
    await bot.send_message(1, "a")
    assert [m.text for m in fake.sent] == ["a"]
    assert fake.too_many_requests == 0
    for _ in range(2):
        with pytest.raises(TelegramServerError):
            await bot.get_me()
    assert (await bot.get_me()).id == 123
    fake.fail_next("*", 404, "Not Found")
    with pytest.raises(TelegramNotFound):
        await bot.get_me()


async def test_delay_next_holds_the_answer(fake: FakeBotApi) -> None:
    fake.delay_next("sendMessage", 60)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(asyncio.TimeoutError):
            async with http.post(
                f"{fake.base_url}/bot{fake.token}/sendMessage",
                data={"chat_id": "1", "text": "lost"},
                timeout=aiohttp.ClientTimeout(total=0.2),
            ) as resp:
                await resp.read()
    fake.delay_next("sendMessage", 0.01, after_processing=True)
    status, body = await raw_post(fake, "sendMessage", data={"chat_id": "1", "text": "late"})
    assert status == 200 and body["result"]["text"] == "late"
    assert [m.text for m in fake.sent] == ["late"]


async def test_delayed_call_times_out_in_aiogram(fake: FakeBotApi, bot: Bot) -> None:
    fake.delay_next("getMe", 60)
    with pytest.raises(TelegramNetworkError, match="timeout"):
        await bot.get_me(request_timeout=1)


async def test_blocked_user_gives_403(fake: FakeBotApi, bot: Bot) -> None:
    user = fake.user(1001, "An")
    await bot.send_message(1001, "trước")
    user.block_bot()
    assert fake.pending_updates[-1]["my_chat_member"]["new_chat_member"]["status"] == "kicked"
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(1001, "sau")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_document(1001, BufferedInputFile(PDF, filename="a.pdf"))
    status, body = await raw_post(fake, "sendMessage", data={"chat_id": "1001", "text": "x"})
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")
    assert [m.text for m in fake.sent] == ["trước"]

    user.send_command("/start")  # "Restart bot" unblocks
    assert not user.blocked
    await bot.send_message(1001, "lại")


async def test_strict_chats_reject_unknown_chats() -> None:
    async with FakeBotApi() as fake:  # strict by default
        bot = fake.make_bot()
        try:
            an = fake.user(1001, "An")
            fake.group(-500, "Tổ công tác")
            with pytest.raises(TelegramBadRequest, match="chat not found"):
                await bot.send_message(1001, "An has not written yet")
            an.send_text("xin chào")
            await bot.send_message(1001, "ok")
            group_message = await bot.send_message(-500, "ok")
            assert group_message.chat.title == "Tổ công tác"
            with pytest.raises(TelegramBadRequest, match="chat not found"):
                await bot.send_message(4242, "?")
        finally:
            await bot.session.close()


def test_methods_cover_aiogram_names() -> None:
    """Every method the fake implements is a real aiogram method name."""
    from tests.fakebot.server import _METHOD_NAMES

    api_names = {
        cls.__api_method__
        for cls in _subclasses(TelegramMethod)
        if isinstance(getattr(cls, "__api_method__", None), str)
    }
    assert set(_METHOD_NAMES) <= api_names


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


async def test_strict_by_default_per_chat_burst_then_one_a_second_on_the_fakes_clock() -> None:
    clock = FakeClock()
    async with FakeBotApi(clock=clock) as fake:
        bot = fake.make_bot()
        try:
            users = [fake.user(2000 + n, f"U{n}") for n in range(40)]
            for user in users:
                user.send_text("chào")  # each action moves the fake's clock on by user_pace (1 s)
            assert fake.clock() == clock.now + 40 * fake.user_pace
            for n in range(3):  # a short burst to one chat
                await bot.send_message(2000, f"m{n}")
            with pytest.raises(TelegramRetryAfter) as caught:
                await bot.send_message(2000, "m3")
            assert caught.value.retry_after == 1
            fake.advance(1.0)  # no sleeping: the fake's clock moves
            await bot.send_message(2000, "m3")
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(2000, "m4")
            fake.advance(1.0)
            sent = 0
            with pytest.raises(TelegramRetryAfter):  # 30 a second overall
                for user in users[1:]:
                    await bot.send_message(user.id, "tin")
                    sent += 1
            assert sent == 30 and fake.too_many_requests == 3
        finally:
            await bot.session.close()


async def test_strict_lengths_in_code_points_after_trimming_and_keyboard_limits() -> None:
    async with FakeBotApi() as fake:
        bot = fake.make_bot()
        try:
            fake.user(1001, "An").send_text("/start")
            astral = "𝐀" * 4096  # 4,096 code points but 8,192 UTF-16 units: Telegram accepts it
            await bot.send_message(1001, "  \n" + astral + "\n  ")
            with pytest.raises(TelegramBadRequest, match="message is too long"):
                await bot.send_message(1001, astral + "x")
            doc = BufferedInputFile(PDF, "a.pdf")
            await bot.send_document(1001, doc, caption=" " + "ạ" * 1024 + " ")
            with pytest.raises(TelegramBadRequest, match="caption is too long"):
                await bot.send_document(1001, doc, caption="ạ" * 1025)
            fake.advance(10)
            hundred = InlineKeyboardMarkup(inline_keyboard=[
                [InlineKeyboardButton(text=str(n), callback_data=f"b:{n}") for n in range(row * 10, row * 10 + 10)]
                for row in range(10)])
            await bot.send_message(1001, "100 nút", reply_markup=hundred)
            too_many = InlineKeyboardMarkup(inline_keyboard=[*hundred.inline_keyboard,
                                                             [InlineKeyboardButton(text="x", callback_data="x")]])
            with pytest.raises(TelegramBadRequest, match="reply markup is too long"):
                await bot.send_message(1001, "101 nút", reply_markup=too_many)
            heavy = InlineKeyboardMarkup(inline_keyboard=[
                [InlineKeyboardButton(text="Nút rất dài " * 20, callback_data=f"h:{n}")] for n in range(50)])
            with pytest.raises(TelegramBadRequest, match="reply markup is too long"):
                await bot.send_message(1001, "quá 10 KB", reply_markup=heavy)
            with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
                await bot.send_message(1001, "dữ liệu dài", reply_markup=keyboard(("x", "đ" * 33)))
        finally:
            await bot.session.close()


async def test_a_direct_reply_waits_out_a_429_instead_of_being_lost() -> None:
    """The bot's answer to someone's message, in several parts, against a fake allowing one message at once
    per chat: the answer arrives whole, in order (the outbox sender is not patient: it reschedules)."""
    from bot.sender import Limits, RateLimiter
    from bot.telegram import send_reply
    from handlers.chat import Reply

    # no pacing on our side (the bot's limiter would avoid the 429 altogether), so the fake's 429 comes
    unpaced = RateLimiter(Limits(global_per_s=1000, per_chat_interval_s=0))
    async with FakeBotApi(rate_limits=RateLimits(per_chat_burst=1)) as fake:
        bot = fake.make_bot()
        try:
            fake.user(1001, "An").send_text("/review")
            text = "\n".join(f"dòng {n} " + "x" * 3000 for n in range(3))  # three messages (4,096 each at most)
            await send_reply(bot, 1001, Reply(text), patient=True, limiter=unpaced)
            assert [m.text.split()[1] for m in fake.messages_to(1001)] == ["0", "1", "2"]
            assert fake.too_many_requests >= 1
            with pytest.raises(TelegramRetryAfter):  # the sender's way: nothing went, it reschedules
                await send_reply(bot, 1001, Reply("không chờ"), patient=False, limiter=unpaced)
            # Once a first part has gone, the rest waits too: giving up would send that part twice.
            fake.advance(5)
            before = len(fake.messages_to(1001))
            await send_reply(bot, 1001, Reply(text), patient=False, limiter=unpaced)
            assert [m.text.split()[1] for m in fake.messages_to(1001)[before:]] == ["0", "1", "2"]
        finally:
            await bot.session.close()
