"""Small HTML helpers for the dashboard: everything is escaped unless it is :class:`Html` built here.

No template engine and no script: pages are plain server-rendered HTML with one inline style sheet, so they
work without a build step, with JavaScript off, and under a strict Content-Security-Policy.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi.responses import HTMLResponse

STYLE = """
:root{color-scheme:light;--ink:#1a1a1a;--muted:#4a4a4a;--line:#c8c8c8;--link:#0b4fa8;--bg:#fff;--band:#f1f4f8}
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--ink);background:var(--bg)}header{background:#0f2d4a;color:#fff;padding:.5rem 1rem}
header a{color:#fff}nav ul{list-style:none;display:flex;flex-wrap:wrap;gap:.25rem 1rem;margin:.25rem 0;padding:0}
header .who{font-size:.875rem;margin:0}main{padding:1rem;max-width:75rem;margin:0 auto}
a{color:var(--link)}a:focus,button:focus,input:focus,select:focus{outline:3px solid #f0b400;outline-offset:2px}
h1{font-size:1.5rem;margin:.5rem 0 1rem}h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
.scroll{overflow-x:auto;margin-bottom:1rem}table{border-collapse:collapse;width:100%;font-size:.9375rem}
caption{text-align:left;font-weight:600;padding:.25rem 0;color:var(--muted)}
th,td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}
thead th{background:var(--band)}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.state{display:inline-block;padding:0 .4rem;border-radius:.25rem;border:1px solid var(--line);background:var(--band)}
.state-failed,.bad{color:#8a1111;font-weight:600}.state-open,.good{color:#0f5b1e;font-weight:600}
form.inline{display:inline}form.card{border:1px solid var(--line);padding:.75rem;margin:.5rem 0 1rem;max-width:40rem}
label{display:block;font-weight:600;margin:.5rem 0 .15rem}input,select,textarea{font:inherit;padding:.3rem;
width:100%;max-width:28rem;border:1px solid #767676;border-radius:.2rem}button{font:inherit;padding:.3rem .8rem;
margin-top:.5rem;border:1px solid #0b4fa8;background:#0b4fa8;color:#fff;border-radius:.2rem;cursor:pointer}
button.secondary{background:#fff;color:#0b4fa8}.flash{border-left:4px solid #0b4fa8;background:var(--band);
padding:.5rem .75rem}.error{border-left-color:#8a1111}.muted{color:var(--muted)}.chart{width:100%;max-width:40rem;
height:auto}pre{white-space:pre-wrap;word-break:break-word;margin:0}
"""

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
NAV = (
    ("/admin", "Open rooms"),
    ("/admin/jobs", "Dead letters"),
    ("/admin/health", "Integrations"),
    ("/admin/figures", "Figures"),
)


class Html(str):
    """Markup that is already safe; anything else handed to these helpers is escaped."""

    __slots__ = ()


def esc(value: object) -> Html:
    if isinstance(value, Html):
        return value
    return Html(html.escape("" if value is None else str(value), quote=True))


def join(parts: Iterable[object], sep: str = "") -> Html:
    return Html(sep.join(esc(p) for p in parts))


def tag(element: str, content: object = "", /, **attrs: object) -> Html:
    rendered = "".join(
        f' {k.rstrip("_").replace("_", "-")}="{esc(v)}"' for k, v in attrs.items() if v is not None and v is not False
    )
    return Html(f"<{element}{rendered}>{esc(content)}</{element}>")


def link(href: str, text: object) -> Html:
    return tag("a", text, href=href)


def when(at: datetime | None) -> Html:
    """A UTC time people can read and machines can parse; never a local zone guessed for the reader."""
    if at is None:
        return Html('<span class="muted">n/a</span>')
    return tag("time", at.strftime("%Y-%m-%d %H:%M:%S UTC"), datetime=at.isoformat())


def age(delta: timedelta) -> str:
    secs = max(0, int(delta.total_seconds()))
    if secs >= 86400:
        return f"{secs // 86400} d {secs % 86400 // 3600} h"
    if secs >= 3600:
        return f"{secs // 3600} h {secs % 3600 // 60:02d} min"
    return f"{secs // 60} min"


def state(value: str) -> Html:
    return tag("span", value, class_=f"state state-{value}")


def table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[object]], *, numeric: set[int] | None = None,
          empty: str = "Nothing here.") -> Html:  # fmt: skip
    numeric = numeric or set()
    head = join(tag("th", h, scope="col", class_="num" if i in numeric else None) for i, h in enumerate(headers))
    body = [
        join(tag("td", cell, class_="num" if i in numeric else None) for i, cell in enumerate(row)) for row in rows
    ]
    if not body:
        return tag("p", empty, class_="muted")
    trs = join(tag("tr", r) for r in body)
    return Html(
        f'<div class="scroll"><table><caption>{esc(caption)}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{trs}</tbody></table></div>"
    )


def hidden(name: str, value: object) -> Html:
    return Html(f'<input type="hidden" name="{esc(name)}" value="{esc(value)}">')


def field(label: str, name: str, value: object = "", *, type_: str = "text", required: bool = False,
          options: Sequence[str] | None = None, ident: str | None = None) -> Html:  # fmt: skip
    ident = ident or f"f-{name}"
    if options is not None:
        opts = join(tag("option", o, value=o, selected=o == value) for o in options)
        control = tag("select", opts, id=ident, name=name)
    else:
        attrs = ' required="required"' if required else ""
        control = Html(f'<input id="{esc(ident)}" name="{esc(name)}" type="{esc(type_)}" value="{esc(value)}"{attrs}>')
    return Html(f'<label for="{esc(ident)}">{esc(label)}</label>{control}')


def form(action: str, csrf: str, content: object, button: str, *, css: str = "card", button_css: str = "",
         button_label: str | None = None) -> Html:  # fmt: skip
    btn = tag("button", button, type="submit", class_=button_css or None, aria_label=button_label)
    return Html(f'<form method="post" action="{esc(action)}" class="{esc(css)}">{hidden("csrf", csrf)}'
                f"{esc(content)}{btn}</form>")  # fmt: skip


class Redactor:
    """Blanks every configured secret out of a finished page: the last line of defence against a leak."""

    def __init__(self, secrets: Iterable[str]) -> None:
        found = {s for s in secrets if len(s) >= 6}
        self.needles = sorted(found | {html.escape(s, quote=True) for s in found}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for needle in self.needles:
            text = text.replace(needle, "[redacted]")
        return text


@dataclass(frozen=True)
class Viewer:
    """Who the page is for: shown in the header, with a sign-out button for token sessions."""

    who: str
    csrf: str
    can_sign_out: bool
    nav: tuple[tuple[str, str], ...] = NAV  # with the links installed extensions add


def page(title: str, body: object, *, viewer: Viewer | None = None, status: int = 200, flash: str | None = None,
         flash_error: bool = False, redact: Redactor | None = None) -> HTMLResponse:  # fmt: skip
    nav: object = ""
    if viewer is not None:
        items = join(tag("li", link(href, text)) for href, text in viewer.nav)
        out = form("/admin/logout", viewer.csrf, "", "Sign out", css="inline", button_css="secondary")
        signed = Html(f'<p class="who">Signed in as {esc(viewer.who)} {out if viewer.can_sign_out else ""}</p>')
        nav = Html(f'<nav aria-label="Dashboard">{tag("ul", items)}</nav>{signed}')
    note: object = ""
    if flash:
        role = "alert" if flash_error else "status"
        note = tag("p", flash, class_="flash error" if flash_error else "flash", role=role)
    doc = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)} · CaseRoom</title><style>{STYLE}</style></head><body>"
        f"<header><a href='/admin'><strong>CaseRoom</strong></a>{esc(nav)}</header>"
        f"<main id='main'><h1>{esc(title)}</h1>{esc(note)}{esc(body)}</main></body></html>"
    )
    return HTMLResponse(redact(doc) if redact else doc, status_code=status, headers=SECURITY_HEADERS)
