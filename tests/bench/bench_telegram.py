"""Benchmark: text commands per second through the whole pipeline vs a bare aiogram echo, in one run;
and the time to take in a 5 MB signed PDF.

Run: ``./test.sh tests/bench/bench_telegram.py -s`` (files named bench_* are not collected by the
normal test run). Figures are printed; the assertions only guard against nonsense (a pipeline faster
than the bare echo, or slower than a tenth of it).
"""

from __future__ import annotations

import asyncio
import time

from aiogram import Dispatcher
from aiogram.types import Message

from bot.app import build_app, run_telegram
from bot.demo import load_demo
from bot.settings import load_settings
from schedules.clock import FixedClock
from storage.migrate import upgrade
from tests import pdf_factory
from tests.conftest import VN, vn
from tests.fakebot import FakeBotApi
from tests.harness import World

COMMANDS = 400
USERS = 20


async def bare_echo_rate(fake: FakeBotApi) -> float:
    bot = fake.make_bot()
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=False))
    await fake.wait_for_call("getUpdates")
    users = [fake.user(50_000 + i, f"E{i}") for i in range(USERS)]
    since = len(fake.sent)
    started = time.perf_counter()
    for i in range(COMMANDS):
        users[i % USERS].send_text(f"/tasks {i}")
    await fake.wait_for_sent(count=COMMANDS, since=since, timeout=120)
    elapsed = time.perf_counter() - started
    await dp.stop_polling()
    await polling
    await bot.session.close()
    return COMMANDS / elapsed


async def test_pipeline_throughput_and_pdf_intake(tmp_path, monkeypatch):
    fake = FakeBotApi()
    await fake.start()
    monkeypatch.chdir(tmp_path)
    bare = await bare_echo_rate(fake)

    settings = load_settings(data_dir=tmp_path / "data", telegram_bot_token=fake.token,
                             telegram_api_base=fake.base_url)
    clock = FixedClock(vn(2026, 11, 23, 9))
    app = build_app(settings, clock=clock)
    await upgrade(app.db)
    await load_demo(app.db, now=clock.now(), tz=VN)
    stop = asyncio.Event()
    runner = asyncio.create_task(run_telegram(app, stop=stop, with_scheduler=False))
    await fake.wait_for_call("getUpdates")
    world = World(fake, app, clock)
    names = ["Nguyễn Văn An", "Lê Thị Thảo", "Phạm Thị Vân", "Nguyễn Thị Bích", "Hoàng Văn Dũng",
             "Phan Thị Kim", "Võ Văn Minh", "Lê Thị Phương", "Hồ Thị Loan", "Đặng Thị Oanh"]
    users = [await world.register(name) for name in names]
    since = len(fake.sent)
    started = time.perf_counter()
    for i in range(COMMANDS):
        users[i % len(users)].send_command("/tasks")
    await fake.wait_for_sent(count=COMMANDS, since=since, timeout=300)
    pipeline = COMMANDS / (time.perf_counter() - started)

    officer = await world.register("Võ Thị Lan")
    big, _ = pdf_factory.make_signed_pdf(data=pdf_factory.make_large_pdf(5 * 1024 * 1024))
    timings = []
    for attempt in range(3):
        officer.send_command("/tasks")
        tasks = await officer.next_message()
        officer.press(tasks, tasks.callback_data[attempt])
        await officer.next_message()
        started = time.perf_counter()
        officer.send_document(big if attempt == 0 else big + b"\n%" + str(attempt).encode(), "lon-5mb.pdf")
        receipt = await officer.next_message()
        timings.append(time.perf_counter() - started)
        assert "Đã nhận" in receipt.text or "đã được nhận" in receipt.text, receipt.text
    stop.set()
    await runner
    await app.close()
    await fake.close()

    print(f"\nbare aiogram echo: {bare:.0f} updates/s; full pipeline /tasks: {pipeline:.0f} updates/s; "
          f"ratio {pipeline / bare:.2f}")
    print(f"5 MB signed PDF intake (download, check in a worker, store, record, receipt): "
          f"{', '.join(f'{t * 1000:.0f} ms' for t in timings)} (size {len(big) / 1e6:.1f} MB)")
    assert 0.02 < pipeline / bare < 1.5
