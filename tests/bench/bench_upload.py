"""Benchmark: a 5 MB signed PDF through the upload page vs through Telegram intake, in one run.

Run: ``./test.sh tests/bench/bench_upload.py -s``. Three runs each, min and median printed:

- floor: the same 5 MB multipart POST to a bare aiohttp handler that only reads the file (transport cost);
- page: upload link → POST to the bot's page → the receipt in the answer (checks in the worker, storage,
  record, receipt queued to the chat);
- Telegram: the document sent through the fake Bot API → the receipt message in the chat (getFile,
  download, the same intake).

The assertions only guard against nonsense (the page slower than 3× Telegram or faster than the floor).
"""

from __future__ import annotations

import statistics
import time

import aiohttp
from aiohttp import web

from tests import pdf_factory
from tests.test_web import XHR, form, open_rows
from tests.web_support import fileless, upload_urls, web_world

RUNS = 3


def summary(name: str, timings: list[float]) -> str:
    return (f"{name}: min {min(timings) * 1000:.0f} ms, median {statistics.median(timings) * 1000:.0f} ms "
            f"({', '.join(f'{t * 1000:.0f}' for t in timings)} ms)")


async def floor_timings(data: bytes) -> list[float]:
    async def take(request: web.Request) -> web.Response:
        reader = await request.multipart()
        part = await reader.next()
        size = 0
        while chunk := await part.read_chunk(256 * 1024):
            size += len(chunk)
        return web.json_response({"ok": True, "size": size})

    app = web.Application()
    app.router.add_post("/", take)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    timings = []
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(RUNS):
                started = time.perf_counter()
                async with http.post(url, data=form(("lon-5mb.pdf", data, "file")), headers=XHR) as response:
                    assert (await response.json())["size"] == len(data)
                timings.append(time.perf_counter() - started)
    finally:
        await runner.cleanup()
    return timings


async def test_5mb_pdf_through_the_page_vs_telegram(tmp_path, monkeypatch):
    big, _ = pdf_factory.make_signed_pdf(data=pdf_factory.make_large_pdf(5 * 1024 * 1024))
    variants = [big + b"\n%" + str(i).encode() for i in range(2 * RUNS)]
    floor = await floor_timings(big)

    async with web_world(tmp_path, monkeypatch) as world:
        rows = await open_rows(world, "VP")
        on_telegram = await world.register("Võ Thị Lan")
        on_zalo = await fileless(world, "Võ Thị Lan")

        web_assignment, tg_assignment = rows[1][0], rows[2][0]

        async def through_page(http: aiohttp.ClientSession, data: bytes) -> float:
            [url] = upload_urls(await on_zalo.say(choice=f"submit:{web_assignment.id}"))
            started = time.perf_counter()
            async with http.post(url, data=form(("lon-5mb.pdf", data, "file")), headers=XHR) as response:
                body = await response.json()
            elapsed = time.perf_counter() - started
            assert body["ok"] and "Đã nhận tài liệu" in body["text"], body
            assert "Đã nhận tài liệu" in (await on_zalo.chat.next_message()).text  # the chat copy
            return elapsed

        async def through_telegram(data: bytes) -> float:
            on_telegram.send_command("/tasks")
            tasks = await on_telegram.next_message(lambda m: bool(m.callback_data))
            on_telegram.press(tasks, f"submit:{tg_assignment.id}")
            await on_telegram.next_message()
            started = time.perf_counter()
            on_telegram.send_document(data, "lon-5mb.pdf")
            receipt = await on_telegram.next_message()
            assert "Đã nhận tài liệu" in receipt.text, receipt.text
            return time.perf_counter() - started

        page, telegram = [], []
        async with aiohttp.ClientSession() as http:
            await through_page(http, pdf_factory.make_pdf())  # warm the PDF worker, not measured
            for attempt in range(RUNS):  # interleaved, so a busy moment of the machine hits both
                page.append(await through_page(http, variants[attempt]))
                telegram.append(await through_telegram(variants[RUNS + attempt]))

    print(f"\n5 MB signed PDF ({len(big) / 1e6:.1f} MB), {RUNS} runs each")
    print(summary("floor (bare aiohttp multipart POST)", floor))
    print(summary("upload page (POST → receipt in the answer)", page))
    print(summary("Telegram intake (document → receipt in the chat)", telegram))
    print(f"median ratios: page / Telegram {statistics.median(page) / statistics.median(telegram):.2f}, "
          f"page / floor {statistics.median(page) / statistics.median(floor):.1f}")
    assert statistics.median(page) < 3 * statistics.median(telegram)
    assert min(page) > min(floor)
