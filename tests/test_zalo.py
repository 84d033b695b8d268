"""The Zalo channel against a fake Zalo Bot Platform over HTTP (``tests/fakezalo``), faithful to ZALO.md:
errors with HTTP 200, 408 empty polls, one update per poll with no offset, no buttons, no files."""

from __future__ import annotations

import asyncio
from datetime import timedelta
import logging

import pytest
from sqlmodel import select

from bot.sender import DeliveryError, PermanentFailure, RetryLater, Unreachable
from bot.zalo import TEXT_LIMIT, ZaloApiError, ZaloChannel, ZaloClient, ZaloOut, delivery_error
from handlers.chat import Button, Reply, Sender
from storage.models import ChannelIdentity, InboundUpdate, OutboxMessage, Person
from tests.conftest import VN, vn
from tests.fakezalo import FakeZalo
from tests.harness import World, running_channels

NOW = vn(2026, 11, 23, 9, 0)


# --- the client ---------------------------------------------------------------------------------


@pytest.fixture
async def zfake():
    async with FakeZalo(max_poll_s=0.05) as fake:
        yield fake


async def test_errors_are_read_from_the_body_whatever_the_http_status(zfake, caplog):
    caplog.set_level(logging.DEBUG)
    client = ZaloClient(zfake.token, zfake.base_url)
    try:
        assert (await client.get_me())["display_name"] == "Đôn Đốc"
        # An error with HTTP 200: the body's ok decides.
        with pytest.raises(ZaloApiError) as error:
            await client.send_message("", "xin chào")
        assert error.value.code == 400 and "chat_id" in error.value.description
        # The same with the code mirrored as the HTTP status.
        zfake.http_status_errors = True
        with pytest.raises(ZaloApiError) as error:
            await client.send_message("999", "xin chào")
        assert error.value.code == 403
        # A 5xx with an HTML body is an error too, not a crash.
        zfake.http_error_next("sendMessage", 502)
        with pytest.raises(ZaloApiError) as error:
            await client.send_message("999", "x")
        assert error.value.code == 502
        # No such method: 404 in the body.
        with pytest.raises(ZaloApiError) as error:
            await client.call("sendDocument", {"chat_id": "1"})
        assert error.value.code == 404
        # An empty poll is error 408: no update, not a failure.
        assert await client.get_update(timeout_s=0) is None
    finally:
        await client.close()
    wrong = ZaloClient(zfake.token + "x", zfake.base_url)
    try:
        with pytest.raises(ZaloApiError) as error:
            await wrong.get_me()
        assert error.value.code == 401
    finally:
        await wrong.close()
    secret = zfake.token.split(":")[1]
    assert all(secret not in record.getMessage() for record in caplog.records)


async def test_a_request_that_never_answers_is_a_delivery_error_without_the_token(zfake):
    client = ZaloClient(zfake.token, zfake.base_url, request_timeout_s=0.2)
    zfake.hang_next("sendMessage")
    try:
        with pytest.raises(DeliveryError) as error:
            await client.send_message("1", "x")
    finally:
        await client.close()
    assert zfake.token not in str(error.value) and "no answer" in str(error.value)


async def test_network_failure_text_never_carries_the_token():
    client = ZaloClient("123:secret-token-value", "http://127.0.0.1:9")  # nothing listens on port 9
    try:
        with pytest.raises(DeliveryError) as error:
            await client.get_me()
    finally:
        await client.close()
    assert "secret-token-value" not in str(error.value)


@pytest.mark.parametrize(("code", "description", "outcome"), [
    (429, "Too many requests", RetryLater),
    (403, "Forbidden: user has not interacted with the bot", Unreachable),
    (400, "Bad request: user blocked the bot", Unreachable),
    (400, "Bad request: text must be 1-2000 characters", PermanentFailure),
    (404, "Not Found", PermanentFailure),
    (500, "Internal error", DeliveryError),
    (401, "Unauthorized", DeliveryError),
])
def test_errors_map_onto_the_senders_outcomes(code, description, outcome):
    result = delivery_error(ZaloApiError(code, description))
    assert type(result) is outcome


# --- the running bot ---------------------------------------------------------------------------


@pytest.fixture
async def zworld(tmp_path):
    from schedules.clock import FixedClock

    clock = FixedClock(NOW)
    async with running_channels(tmp_path, clock=clock, demo_at=NOW, telegram=True, zalo=True,
                                zalo_max_poll_s=0.2) as (fake, zfake, app):
        world = World(fake, app, clock)
        world.zfake = zfake
        yield world


async def zregister(world, name: str, user_id: str = "z1"):
    user = world.zfake.user(user_id, name.split()[-1])
    user.send_text(await world.invite(name=name))  # in Zalo the invite code alone is enough
    reply = await user.next_message()
    assert "Đăng ký thành công" in reply.text, reply.text
    return user


async def test_onboarding_with_the_code_as_text_and_numbered_choices(zworld):
    stranger = zworld.zfake.user("z0", "Lạ")
    stranger.send_text("/tasks")
    assert "chưa được đăng ký" in (await stranger.next_message()).text
    officer = await zregister(zworld, "Võ Thị Lan")
    officer.send_text("/tasks")
    tasks = await officer.next_message()
    assert "[1] " in tasks.text and "Gõ số để chọn" in tasks.text and len(tasks.text) <= TEXT_LIMIT
    officer.send_text("1")  # presses the first choice: "Nộp" for the first task
    pressed = await officer.next_message()
    assert "#" in pressed.text or "PDF" in pressed.text, pressed.text
    officer.send_text("1")  # the choices were used up: "1" is plain text now
    assert "chưa hiểu" in (await officer.next_message()).text


async def test_a_file_sent_in_zalo_gets_a_clear_answer(zworld):
    officer = await zregister(zworld, "Võ Thị Lan")
    officer.send_file()
    answer = await officer.next_message()
    assert "PDF" in answer.text and "Zalo" in answer.text


async def test_a_replayed_update_is_handled_once(zworld):
    officer = await zregister(zworld, "Võ Thị Lan")
    zworld.zfake.replay_next()
    officer.send_text("/help")
    await officer.next_message()
    await zworld.zfake.wait(lambda: True if zworld.zfake.drained() else None, 10)  # the replay was polled too
    async with zworld.app.db.session() as session:
        rows = (await session.exec(select(InboundUpdate))).all()
    assert len({row.update_id for row in rows}) == len(rows)
    assert all(row.handled_at is not None for row in rows)
    officer.send_text("/help")  # a fresh message is still answered, and only it
    await officer.next_message()
    assert officer.unread() == []


async def test_long_texts_are_split_at_2000_characters_on_line_breaks(zfake, sqlite_db):
    from schedules.clock import FixedClock

    user = zfake.user("u1", "An")
    user.send_text("xin chào")  # people must write first
    client = ZaloClient(zfake.token, zfake.base_url)
    out = ZaloOut(client, sqlite_db, FixedClock(NOW), VN)
    lines = [f"Dòng {i}: " + "ư" * 90 for i in range(60)]
    try:
        await out.send("u1", [Reply("\n".join(lines), buttons=[[Button("Trang 2/2", "page:2")]])], turn=True)
    finally:
        await client.close()
    parts = user.unread()
    assert len(parts) == 4 and all(1 <= len(p.text) <= TEXT_LIMIT for p in parts)
    assert "\n".join(p.text for p in parts).startswith("\n".join(lines))
    assert all(not p.text.startswith("ư") for p in parts)  # cut between lines
    assert "[1] Trang 2/2" in parts[-1].text


async def test_restart_between_the_poll_and_its_handling_handles_the_update_once(zworld):
    officer = await zregister(zworld, "Võ Thị Lan")
    app = zworld.app
    # A poll that was logged but never handled: the process died in between.
    update = {"event_name": "message.text.received", "message": {
        "message_id": "a" * 20, "date": 0, "from": {"id": officer.id, "display_name": "Lan"},
        "chat": {"id": officer.id, "chat_type": "PRIVATE"}, "text": "/help"}}
    from storage.channels import record_update

    async with app.db.session() as session:
        assert await record_update(session, channel="zalo", update_id="a" * 20, payload=update, now=NOW)
    zchannel = ZaloChannel(app.transports["zalo"].out.client, app.conversation, app.db, app.clock,
                           app.transports["zalo"].out)
    assert await zchannel.catch_up() == 1  # the restarted process handles it
    assert "/tasks" in (await officer.next_message()).text
    assert await zchannel.catch_up() == 0  # and only once
    assert not await zchannel.receive(update)  # a replay of it is ignored
    await zchannel.idle()
    assert officer.unread() == []


async def test_webhook_checks_the_secret_and_takes_flat_and_wrapped_bodies(tmp_path, unused_tcp_port):
    from schedules.clock import FixedClock

    clock = FixedClock(NOW)
    url = f"http://127.0.0.1:{unused_tcp_port}/zalo/hook"
    async with running_channels(tmp_path, clock=clock, demo_at=NOW, telegram=False, zalo=True,
                                zalo_webhook_url=url, zalo_webhook_listen=f"127.0.0.1:{unused_tcp_port}",
                                zalo_webhook_secret="s3cret-hook-value") as (_, zfake, app):
        world = World(None, app, clock)
        await zfake.wait(lambda: zfake.webhook, 10)
        assert zfake.webhook == {"url": url, "secret_token": "s3cret-hook-value"}
        user = zfake.user("w1", "Lan")
        zfake.contacted.add("w1")
        code = await world.invite(name="Võ Thị Lan")
        update = {"event_name": "message.text.received", "message": {
            "message_id": "b" * 20, "date": 0, "from": {"id": "w1", "display_name": "Lan"},
            "chat": {"id": "w1", "chat_type": "PRIVATE"}, "text": code}}
        assert await zfake.deliver_webhook(update, secret="wrong-secret") == 403
        assert await zfake.deliver_webhook(update, secret="") == 403
        async with app.db.session() as session:
            assert (await session.exec(select(InboundUpdate))).all() == []
        assert await zfake.deliver_webhook(update) == 200
        assert "Đăng ký thành công" in (await user.next_message()).text
        wrapped = {**update, "message": {**update["message"], "message_id": "c" * 20, "text": "/help"}}
        assert await zfake.deliver_webhook(wrapped, wrapped=True) == 200
        assert "/tasks" in (await user.next_message()).text
        assert await zfake.deliver_webhook(wrapped) == 200  # the same message again: ignored
        assert zfake.calls_of("getUpdates") == []


async def test_one_person_two_channels_most_recent_first_fallback_never_twice(zworld):
    from handlers.notify import notify

    tg = await zworld.register("Võ Thị Lan")
    zl = await zregister(zworld, "Võ Thị Lan")  # the same person links Zalo too (a second invite)
    person = await zworld.person("Võ Thị Lan")

    async def notice(key: str) -> None:
        async with zworld.app.db.session() as session:
            await notify(session, [person.id], Reply(f"Thông báo {key}"), key=key, now=zworld.clock.now())
        zworld.app.wake_sender()  # the running bot's own sender delivers it

    zworld.clock.set(zworld.clock.now() + timedelta(minutes=1))
    zl.send_text("/help")  # Zalo is now the most recent channel
    await zl.next_message()
    await notice("k1")
    assert (await zl.next_message()).text == "Thông báo k1"
    zworld.clock.set(zworld.clock.now() + timedelta(minutes=1))
    tg.send_command("/help")  # now Telegram
    await tg.next_message()
    await notice("k2")
    assert (await tg.next_message()).text == "Thông báo k2"
    await notice("k2")  # queued again under the same key: nothing new
    # Telegram says the person blocked the bot: the message goes to Zalo instead, once.
    tg.block_bot(notify=False)
    await notice("k3")
    assert (await zl.next_message()).text == "Thông báo k3"
    await notice("k4")  # Telegram is skipped now: straight to Zalo
    assert (await zl.next_message()).text == "Thông báo k4"
    assert zl.unread() == [] and [m for m in tg.received if "k3" in (m.text or "")] == []
    assert [m.text for m in tg.received if "Thông báo" in (m.text or "")] == ["Thông báo k2"]
    async with zworld.app.db.session() as session:
        identity = (await session.exec(select(ChannelIdentity).where(ChannelIdentity.channel == "telegram",
                                                                     ChannelIdentity.person_id == person.id))).one()
        refreshed = await session.get(Person, person.id)
        assert identity.unreachable_since is not None and refreshed.unreachable_since is None
        rows = (await session.exec(select(OutboxMessage).where(OutboxMessage.person_id == person.id))).all()
    assert sum(1 for row in rows if row.sent_at and "k3" in row.payload["text"]) == 1


async def test_quota_warning_once_at_80_percent(tmp_path):
    from schedules.clock import FixedClock

    clock = FixedClock(NOW)
    async with running_channels(tmp_path, clock=clock, demo_at=NOW, telegram=False, zalo=True,
                                zalo_max_poll_s=0.2, zalo_monthly_quota=10) as (_, zfake, app):
        world = World(None, app, clock)
        world.zfake = zfake
        coordinator = await zregister(world, "Nguyễn Thị Hương", "zc")  # 1 message sent
        for _ in range(8):
            coordinator.send_text("/help")
        helps = lambda: [m for m in coordinator.received if m.text.startswith("Xin chào")]  # noqa: E731
        await zfake.wait(lambda: True if len(helps()) == 8 else None, 30)
        warnings = lambda: [m for m in coordinator.received if "hạn mức" in m.text]  # noqa: E731
        [warning] = await zfake.wait(lambda: warnings() or None, 30)  # the running sender delivers it
        assert "8/10 tin Zalo" in warning.text and "80% hạn mức" in warning.text
        coordinator.send_text("/help")
        await zfake.wait(lambda: True if len(helps()) == 9 else None, 30)
        app.wake_sender()
        async with app.db.session() as session:
            queued = (await session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key.startswith("quota:")))).all()
        assert len(queued) == 1 and warnings() == [warning]


async def test_a_429_on_part_2_of_3_of_an_outbox_message_sends_parts_2_and_3_once_each(zfake, sqlite_db):
    """The sender drives the Zalo transport part by part and records what went (``parts_sent``)."""
    from bot.sender import Limits, OutboxSender, RateLimiter
    from bot.zalo import ZaloTransport
    from schedules.clock import FixedClock
    from storage.outbox import Recipient, enqueue
    from storage.queries import bind_identity

    clock = FixedClock(NOW)
    user = zfake.user("u7", "Chi")
    user.send_text("xin chào")  # people must write first
    async with sqlite_db.session() as session:
        person = Person(name="Chi", role="officer", created_at=NOW, updated_at=NOW)
        session.add(person)
        await session.flush()
        await bind_identity(session, person, channel="zalo", external_id="u7", chat_id="u7", username=None, now=NOW)
        long = "\n".join(f"[p{part}] " + "ư" * 1900 for part in (1, 2, 3))  # three Zalo-sized parts
        await enqueue(session, dedupe_key="long", recipient=Recipient(person.id, "zalo", "u7"),
                      payload={"text": long, "buttons": [[{"label": "Nộp", "choice": "submit:1"}]]}, now=NOW)
    client = ZaloClient(zfake.token, zfake.base_url)
    sender = OutboxSender(sqlite_db, {"zalo": ZaloTransport(ZaloOut(client, sqlite_db, clock, VN))}, clock,
                          limiter=RateLimiter(Limits(global_per_s=1000, per_chat_interval_s=0)))
    zfake.fail_next("sendMessage", 429, "Too many requests", after=1)
    try:
        await sender.drain()
        async with sqlite_db.session() as session:
            row = (await session.exec(select(OutboxMessage))).one()
        assert row.parts_sent == 1 and row.sent_at is None
        assert [m.text[:4] for m in user.received] == ["[p1]"]
        clock.set(row.not_before)
        await sender.drain()
    finally:
        await client.close()
    assert [m.text[:4] for m in user.received] == ["[p1]", "[p2]", "[p3]"]  # part 1 not again
    assert "[1] Nộp" in user.received[-1].text and len(zfake.calls_of("sendMessage")) == 4
    async with sqlite_db.session() as session:
        assert (await session.exec(select(OutboxMessage))).one().sent_at is not None
    from bot.numbered import NumberedChoices
    pressed = await NumberedChoices(sqlite_db, "zalo").incoming(
        Sender(channel="zalo", user_id="u7", chat_id="u7"), "1", NOW)
    assert pressed.choice == "submit:1"  # the choices shown by the last part are remembered
