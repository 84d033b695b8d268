"""The bot's own web page: uploads through signed links, downloads of outgoing files (aiohttp).

Served in the same process as the chat channels, listening on ``WEB_LISTEN`` behind an HTTPS reverse
proxy that makes it reachable at ``PUBLIC_BASE_URL`` (README). ``build_web_app`` returns the
``web.Application`` so other routes (the Zalo webhook) can be added before ``WebServer.start``.

- ``GET /u/{token}``: the upload page for one task (Vietnamese, small, no external assets, works in
  Zalo's in-app browser): the task number, title and deadline, one PDF, the size limit, progress.
- ``POST /u/{token}``: the multipart form streamed part by part; refused while streaming once past
  ``UPLOAD_MAX_MB``, or at the first bytes when it is not a PDF; one file field only. The bytes go to
  ``handlers.intake.take_in_upload``: the same checks, storage, status event and receipt as a file sent
  in the chat, and the receipt is queued to the person's chat as well.
- ``GET /d/{token}``: an outgoing file (board, chart, evidence) with its type and a clean
  ``Content-Disposition``; evidence only as ``application/pdf`` and only for staff.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

import aiohttp
from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import intake
from handlers import texts as t
from handlers.links import EVIDENCE_MIME
from storage.links import (BlobStore, LinkKind, LinkProblem, clean_file_name, find_link,
                           issue_download, issue_upload, note_download)
from storage.models import Assignment, Person, Role, Task, Unit
from storage.status import TAKES_FILES

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
FORM_OVERHEAD = 64 * 1024
"""Multipart boundaries and headers around the file: allowed on top of the size limit."""
STAFF = frozenset({Role.coordinator.value, Role.leader.value, Role.admin.value})
PDF_MAGIC = b"%PDF-"


class WebLinks:
    """``handlers.links.LinkIssuer`` backed by the ``issuedlink`` table, the blob store and this server."""

    def __init__(self, *, secret: bytes, base_url: str, blobs: BlobStore, upload_max_bytes: int,
                 download_ttl: timedelta) -> None:
        self.secret = secret
        self.base_url = base_url.rstrip("/")
        self.blobs = blobs
        self.upload_max_bytes = upload_max_bytes
        self.download_ttl = download_ttl

    def upload_url(self, token: str) -> str:
        return f"{self.base_url}/u/{token}"

    def download_url(self, token: str) -> str:
        return f"{self.base_url}/d/{token}"

    async def upload_link(self, session: AsyncSession, person_id: int, assignment_id: int, now: datetime) -> str:
        token = await issue_upload(session, self.secret, person_id=person_id, assignment_id=assignment_id, now=now)
        return self.upload_url(token)

    async def download_link(self, session: AsyncSession, person_id: int, name: str, mime: str, data: bytes,
                            now: datetime) -> str:
        stored = await asyncio.to_thread(self.blobs.put, data)
        token = await issue_download(session, self.secret, person_id=person_id, blob_key=stored.key, file_name=name,
                                     mime_type=mime, now=now, ttl=self.download_ttl,
                                     staff_only=mime == EVIDENCE_MIME)
        return self.download_url(token)


def web_links(settings, data_dir) -> WebLinks | None:
    """The link issuer for these settings; None when ``PUBLIC_BASE_URL`` is unset."""
    if settings.public_base is None:
        return None
    return WebLinks(secret=settings.web_key, base_url=settings.public_base, blobs=BlobStore(data_dir / "blobs"),
                    upload_max_bytes=settings.upload_max_mb * 1024 * 1024,
                    download_ttl=timedelta(hours=settings.download_link_hours))


# --- texts of the page (Vietnamese) -----------------------------------------------------------------

PROBLEM_TEXTS = {
    LinkProblem.invalid: ("Liên kết không hợp lệ",
                          "Liên kết này không đúng hoặc đã bị sửa. Hãy mở đúng liên kết bot đã gửi trong cuộc trò "
                          "chuyện, hoặc nhắn cho bot để nhận liên kết mới."),
    LinkProblem.expired: ("Liên kết đã hết hạn",
                          "Liên kết chỉ dùng được trong thời gian ngắn. Hãy nhắn cho bot (chọn «Nộp» ở nhiệm vụ) "
                          "để nhận liên kết mới."),
    LinkProblem.used: ("Liên kết đã được dùng",
                       "Liên kết này đã dùng để nộp một tệp và không dùng lại được. Nếu cần nộp thêm, hãy nhắn cho "
                       "bot để nhận liên kết mới."),
}
NOT_YOURS = ("Không nộp được qua liên kết này",
             "Nhiệm vụ này không thuộc đơn vị của bạn (hoặc tài khoản đã ngừng hoạt động). "
             "Hãy nhắn cho bot để nhận liên kết đúng.")
STAFF_ONLY = ("Không có quyền xem tệp", "Tệp hồ sơ chỉ dành cho Phòng Nội vụ và lãnh đạo.")
FILE_GONE = ("Không tìm thấy tệp", "Tệp này không còn trên máy chủ. Hãy yêu cầu bot gửi lại.")
EMPTY_FORM = "Chưa có tệp nào được gửi. Hãy chọn một tệp PDF rồi bấm «Nộp tệp»."
TWO_FILES = "Mỗi lần chỉ nộp được một tệp PDF. Hãy chọn một tệp rồi nộp lại; không có gì được lưu."
NOT_PDF = "Tệp «{name}» không phải tệp PDF. Hãy chọn bản PDF (trong Word: Tệp → Lưu thành → PDF); không có gì được lưu."
TOO_LARGE = "Tệp vượt quá {max_mb} MB nên không được nhận; không có gì được lưu. Hãy giảm dung lượng rồi nộp lại."
BROKEN_FORM = "Tệp gửi lên bị gián đoạn hoặc biểu mẫu không đúng; không có gì được lưu. Hãy thử lại."
SERVER_TROUBLE = "Máy chủ đang bận nên chưa nhận được tệp; không có gì được lưu. Hãy thử lại sau ít phút."
ACCEPTED_TITLE = "Đã nộp thành công"
REFUSED_TITLE = "Chưa nộp được"


def _mb(size: int) -> int:
    return size // 1024 // 1024


# --- HTML ----------------------------------------------------------------------------------------

STYLE = """
*{box-sizing:border-box}body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;
color:#1b1f24;background:#eef2f6}header{background:#0b5cad;color:#fff;padding:14px 16px;font-weight:600}
main{max-width:560px;margin:0 auto;padding:14px}.card{background:#fff;border-radius:12px;padding:16px;
box-shadow:0 1px 3px rgba(0,0,0,.12);margin-bottom:14px}.no{color:#0b5cad;font-weight:700}
h1{font-size:1.15rem;margin:.2rem 0 .6rem}dl{margin:0}dt{color:#5a6672;font-size:.85rem;margin-top:.5rem}
dd{margin:0;font-weight:500}.pick{display:block;border:2px dashed #0b5cad;border-radius:10px;padding:18px;
text-align:center;color:#0b5cad;font-weight:600;cursor:pointer;position:relative}.name{display:block;
margin-top:6px;font-weight:400;color:#1b1f24;font-size:.9rem;word-break:break-word}.sr{position:absolute;
width:1px;height:1px;opacity:0;overflow:hidden}.msg strong{display:block;font-size:1.05rem;margin-bottom:6px}.hint{color:#5a6672;font-size:.9rem;margin:.6rem 0}
button{width:100%;padding:14px;font-size:1.05rem;font-weight:600;border:0;border-radius:10px;background:#0b5cad;
color:#fff}button:disabled{background:#9bb4cf}progress{width:100%;height:14px;margin-top:12px}
.msg{white-space:pre-wrap;border-radius:10px;padding:14px;margin-top:12px}.ok{background:#e6f5ea;color:#124d22;
border:1px solid #9fd3ab}.err{background:#fdeceb;color:#7a1c14;border:1px solid #f0aaa4}[hidden]{display:none}form[hidden]+.msg{margin-top:0}
"""

PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} · Đôn Đốc</title><style>{style}</style></head>
<body><header>Đôn Đốc · Nộp tài liệu</header><main>{body}</main>{script}</body></html>"""

UPLOAD_BODY = """<section class="card">
<div class="no">Nhiệm vụ #{task_id}</div><h1>{title}</h1>
<dl><dt>Hạn nộp</dt><dd>{due}</dd><dt>Đơn vị</dt><dd>{unit}</dd><dt>Người nộp</dt><dd>{person}</dd></dl>
</section>
<section class="card">
<form id="f" method="post" enctype="multipart/form-data">
<label class="pick">Chọn tệp PDF<span class="name" id="chosen">Chưa chọn tệp</span>
<input id="file" class="sr" type="file" name="file" accept="application/pdf,.pdf" required></label>
<p class="hint">Một tệp PDF, tối đa {max_mb} MB. Liên kết dùng một lần, hết hạn lúc {expires}.</p>
<button id="send" type="submit">Nộp tệp</button>
<progress id="bar" max="100" value="0" hidden></progress>
<p class="hint" id="pct" hidden></p>
</form>
<div id="msg" class="msg" role="status" hidden></div>
</section>"""

RESULT_BODY = """<section class="card"><h1>{title}</h1><div class="msg {css}">{text}</div></section>"""

SCRIPT = """<script nonce="{nonce}">
(function(){{
var MAX={max_bytes},f=document.getElementById('f'),inp=document.getElementById('file'),
btn=document.getElementById('send'),bar=document.getElementById('bar'),pct=document.getElementById('pct'),
msg=document.getElementById('msg'),chosen=document.getElementById('chosen');
function mb(n){{return n<1048576?Math.max(1,Math.round(n/1024))+' KB':(n/1048576).toFixed(1).replace('.',',')+' MB';}}
function show(ok,title,text){{msg.hidden=false;msg.className='msg '+(ok?'ok':'err');msg.textContent='';
var h=document.createElement('strong');h.textContent=title;msg.appendChild(h);
msg.appendChild(document.createTextNode(text||''));msg.scrollIntoView&&msg.scrollIntoView();}}
inp.onchange=function(){{msg.hidden=true;var x=inp.files[0];if(!x)return;
chosen.textContent=x.name+' ('+mb(x.size)+')';
if(x.size>MAX)show(false,'{refused}','Tệp '+mb(x.size)+' vượt quá {max_mb} MB nên không nộp được. Hãy giảm dung lượng.');}};
f.onsubmit=function(e){{e.preventDefault();var x=inp.files[0];
if(!x){{show(false,'{refused}','Hãy chọn một tệp PDF.');return;}}
if(x.size>MAX){{show(false,'{refused}','Tệp '+mb(x.size)+' vượt quá {max_mb} MB nên không nộp được.');return;}}
var d=new FormData();d.append('file',x);var r=new XMLHttpRequest();
r.open('POST',location.pathname);r.setRequestHeader('X-Requested-With','XMLHttpRequest');
r.upload.onprogress=function(ev){{if(ev.lengthComputable){{var p=Math.round(ev.loaded*100/ev.total);
bar.value=p;pct.textContent='Đang tải lên… '+p+' %';}}}};
r.onload=function(){{var a;try{{a=JSON.parse(r.responseText);}}catch(_){{a={{ok:false,title:'{refused}',text:'Máy chủ trả lời không rõ (mã '+r.status+'). Hãy thử lại.'}};}}
bar.hidden=true;pct.hidden=true;
if(a.ok){{f.hidden=true;show(true,a.title,a.text);}}else{{btn.disabled=false;show(false,a.title,a.text);}}}};
r.onerror=function(){{bar.hidden=true;pct.hidden=true;btn.disabled=false;
show(false,'{refused}','Mất kết nối khi tải lên. Hãy kiểm tra mạng rồi bấm «Nộp tệp» lại.');}};
btn.disabled=true;bar.hidden=false;pct.hidden=false;bar.value=0;pct.textContent='Đang tải lên… 0 %';msg.hidden=true;
r.send(d);}};
}})();
</script>"""


def _headers(nonce: str | None = None) -> dict[str, str]:
    script = f"'nonce-{nonce}'" if nonce else "'none'"
    return {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": (f"default-src 'none'; style-src 'unsafe-inline'; script-src {script}; "
                                    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    }


def page(title: str, body: str, *, status: int = 200, script: str = "", nonce: str | None = None) -> web.Response:
    text = PAGE.format(title=html.escape(title), style=STYLE, body=body, script=script)
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8", headers=_headers(nonce))


def message_page(title: str, text: str, *, ok: bool = False, status: int = 200) -> web.Response:
    return page(title, RESULT_BODY.format(title=html.escape(title), text=html.escape(text), css="ok" if ok else "err"),
                status=status)


def answer(request: web.Request, title: str, text: str, *, ok: bool = False, status: int = 200) -> web.Response:
    """The script gets JSON; a browser without it (the plain form) gets a page."""
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        body = json.dumps({"ok": ok, "title": title, "text": text}, ensure_ascii=False)
        return web.Response(text=body, status=status, content_type="application/json", headers=_headers())
    return message_page(title, text, ok=ok, status=status)


PROBLEM_STATUS = {LinkProblem.invalid: 404, LinkProblem.expired: 410, LinkProblem.used: 410}


def content_disposition(name: str, *, inline: bool = False) -> str:
    """``attachment; filename="ascii"; filename*=UTF-8''…`` (RFC 6266 / RFC 5987)."""
    fallback = name.encode("ascii", "ignore").decode("ascii").replace('"', "").replace("\\", "") or "tep"
    if "." in name and "." not in fallback:
        fallback += "." + name.rsplit(".", 1)[-1].encode("ascii", "ignore").decode("ascii")
    return f"{'inline' if inline else 'attachment'}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@dataclass(frozen=True)
class UploadTarget:
    link_id: int
    person: Person
    unit: Unit
    assignment: Assignment
    task: Task
    expires_at: datetime


class WebRoutes:
    def __init__(self, app: App, on_outbox: Callable[[], None] | None = None) -> None:
        self.app = app
        self.links: WebLinks = app.ctx.links
        self.on_outbox = on_outbox

    def wake(self) -> None:
        wake = self.on_outbox or self.app.wake_sender
        if wake is not None:
            wake()

    async def target(self, request: web.Request) -> UploadTarget | web.Response:
        """The upload link's person and task, or the page that explains why it cannot be used."""
        now = self.app.clock.now()
        async with self.app.db.session() as session:
            link, problem = await find_link(session, self.links.secret, LinkKind.upload, request.match_info["token"],
                                            now)
            if problem is not None:
                return answer(request, *PROBLEM_TEXTS[problem], status=PROBLEM_STATUS[problem])
            person = await session.get(Person, link.person_id)
            assignment = await session.get(Assignment, link.assignment_id)
            unit = await session.get(Unit, person.unit_id) if person and person.unit_id else None
            if person is None or not person.active or unit is None or assignment is None \
                    or assignment.unit_id != unit.id:
                return answer(request, *NOT_YOURS, status=403)
            task = await session.get(Task, assignment.task_id)
            if assignment.status not in TAKES_FILES:
                from handlers import messages as m

                return answer(request, REFUSED_TITLE, m.assignment_closed(task, assignment.status), status=409)
            return UploadTarget(link.id, person, unit, assignment, task, link.expires_at)

    async def upload_page(self, request: web.Request) -> web.Response:
        target = await self.target(request)
        if isinstance(target, web.Response):
            return target
        tz = self.app.settings.tz
        max_bytes = self.links.upload_max_bytes
        body = UPLOAD_BODY.format(
            task_id=target.task.id, title=html.escape(target.task.title),
            due=html.escape(intake.due_text(target.assignment, target.task, tz)),
            unit=html.escape(target.unit.name), person=html.escape(target.person.name), max_mb=_mb(max_bytes),
            expires=html.escape(t.instant(target.expires_at, tz)))
        nonce = secrets.token_urlsafe(12)
        script = SCRIPT.format(nonce=nonce, max_bytes=max_bytes, max_mb=_mb(max_bytes), refused=REFUSED_TITLE)
        return page(f"Nộp tài liệu #{target.task.id}", body, script=script, nonce=nonce)

    async def upload(self, request: web.Request) -> web.Response:
        target = await self.target(request)
        if isinstance(target, web.Response):
            return target
        limit = self.links.upload_max_bytes
        too_large = TOO_LARGE.format(max_mb=_mb(limit))
        if request.content_length is not None and request.content_length > limit + FORM_OVERHEAD:
            return answer(request, REFUSED_TITLE, too_large, status=413)
        if not request.content_type.startswith("multipart/"):
            return answer(request, REFUSED_TITLE, EMPTY_FORM, status=400)
        try:
            received = await self.read_one_pdf(request, limit)
        except (ValueError, AssertionError, aiohttp.ClientPayloadError):  # a broken or cut-off body
            return answer(request, REFUSED_TITLE, BROKEN_FORM, status=400)
        if isinstance(received, web.Response):
            return received
        name, data = received
        try:
            outcome = await intake.take_in_upload(self.app.ctx, target.person.id, target.assignment.id, name, data,
                                                  link_id=target.link_id)
        except Exception:  # e.g. the database busy with a second upload on the same link: rolled back
            log.exception("upload through link %d failed", target.link_id)
            return answer(request, REFUSED_TITLE, SERVER_TROUBLE, status=503)
        if outcome.link_used:
            return answer(request, *PROBLEM_TEXTS[LinkProblem.used], status=410)
        text = "\n\n".join(reply.text for reply in outcome.replies)
        if not outcome.accepted:
            return answer(request, REFUSED_TITLE, text, status=422)
        self.wake()
        return answer(request, ACCEPTED_TITLE, text + "\n\nBiên nhận này cũng đã được gửi vào cuộc trò chuyện với bot.",
                      ok=True)

    async def read_one_pdf(self, request: web.Request, limit: int) -> tuple[str, bytes] | web.Response:
        """The one file of the form, read part by part: refused as soon as it passes ``limit`` or its first
        bytes are not a PDF's, or when a second field follows it."""
        too_large = TOO_LARGE.format(max_mb=_mb(limit))
        reader = await request.multipart()
        part = await reader.next()
        if part is None or not getattr(part, "filename", None):
            return answer(request, REFUSED_TITLE, EMPTY_FORM, status=400)
        name = clean_file_name(part.filename, EVIDENCE_MIME)
        data = bytearray()
        while chunk := await part.read_chunk(CHUNK):
            data += chunk
            if len(data) > limit:
                log.info("upload refused while streaming: over %d bytes", limit)
                return answer(request, REFUSED_TITLE, too_large, status=413)
            if len(data) >= 1024 and PDF_MAGIC not in data[:1024]:
                return answer(request, REFUSED_TITLE, NOT_PDF.format(name=name), status=415)
        if not data:
            return answer(request, REFUSED_TITLE, EMPTY_FORM, status=400)
        if PDF_MAGIC not in data[:1024]:
            return answer(request, REFUSED_TITLE, NOT_PDF.format(name=name), status=415)
        if await reader.next() is not None:
            return answer(request, REFUSED_TITLE, TWO_FILES, status=400)
        return name, bytes(data)

    async def download(self, request: web.Request) -> web.StreamResponse:
        now = self.app.clock.now()
        async with self.app.db.session() as session:
            link, problem = await find_link(session, self.links.secret, LinkKind.download,
                                            request.match_info["token"], now)
            if problem is not None:
                return message_page(*PROBLEM_TEXTS[problem], status=PROBLEM_STATUS[problem])
            person = await session.get(Person, link.person_id)
            if person is None or not person.active:
                return message_page(*NOT_YOURS, status=403)
            if link.staff_only and person.role not in STAFF:
                return message_page(*STAFF_ONLY, status=403)
            try:
                path = self.links.blobs.path(link.blob_key)
            except ValueError:
                path = None
            if path is None or not path.is_file():
                return message_page(*FILE_GONE, status=404)
            await note_download(session, link.id, now)
        mime = EVIDENCE_MIME if link.staff_only else link.mime_type or "application/octet-stream"
        name = clean_file_name(link.file_name or "tep", mime)
        headers = {**_headers(), "Content-Type": mime,
                   "Content-Disposition": content_disposition(name, inline=mime.startswith("image/")),
                   "Content-Security-Policy": "sandbox; default-src 'none'"}
        return web.FileResponse(path, headers=headers)


def build_web_app(app: App, *, on_outbox: Callable[[], None] | None = None) -> web.Application:
    """The web application: the file routes above when ``PUBLIC_BASE_URL`` is set, and ``/healthz``.
    Add more routes (a webhook) before starting it with ``bot.app.start_web(app, web_app)``."""
    web_app = web.Application()
    web_app.router.add_get("/healthz", health)
    if app.ctx.links is not None:
        routes = WebRoutes(app, on_outbox)
        web_app.add_routes([
            web.get("/u/{token}", routes.upload_page),
            web.post("/u/{token}", routes.upload),
            web.get("/d/{token}", routes.download),
        ])
    return web_app


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


class WebServer:
    """Runs a ``web.Application`` on ``host:port`` (port 0: any free port, see ``port``)."""

    def __init__(self, web_app: web.Application, listen: str) -> None:
        self.web_app = web_app
        host, _, port = listen.rpartition(":")
        self.host, self.requested_port = host.strip("[]"), int(port)
        self.runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self.runner = web.AppRunner(self.web_app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.requested_port)
        await site.start()
        self.port = self.runner.addresses[0][1]
        log.info("web page listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

