"""The two pages a person sees from us: the consent page and an error page. Plain, accessible HTML
(one form, real buttons, a language, a title, a heading), no script, and headers that forbid framing
(clickjacking the Allow button) and caching."""

from __future__ import annotations

import html
import secrets

from starlette.responses import HTMLResponse

STYLE = ("body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;line-height:1.5;"
         "color:#1b1b1b}h1{font-size:1.4rem}.who{font-weight:600}.actions{display:flex;gap:1rem;margin-top:1.5rem}"
         "button{font-size:1rem;padding:.6rem 1.4rem;border-radius:.3rem;border:1px solid #444;cursor:pointer}"
         "button.allow{background:#0b5cab;color:#fff;border-color:#0b5cab}"
         "button:focus{outline:3px solid #f5a623;outline-offset:2px}")


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    document = (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{html.escape(title)}</title><style nonce=\"{nonce}\">{STYLE}</style></head>"
                f"<body><main>{body}</main></body></html>")
    return HTMLResponse(document, status_code=status, headers={
        "Content-Security-Policy": (f"default-src 'none'; style-src 'nonce-{nonce}'; frame-ancestors 'none'; "
                                    "base-uri 'none'"),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    })


def consent_page(*, client_name: str, client_id: str, redirect_host: str, request: str, csrf: str,
                 server_name: str) -> HTMLResponse:
    e = html.escape
    shown = client_name or client_id
    body = (
        f"<h1>Allow {e(shown)} to use your Xero?</h1>"
        f'<p><span class="who">{e(shown)}</span> asks to act as you on <span class="who">{e(server_name)}</span>: '
        "to read and change the contacts, contact groups and tracking categories of the Xero organisations "
        "you connect, through this server's tools.</p>"
        f"<p>After you allow it, you sign in to Xero and choose the organisations. You will then be returned to "
        f'<span class="who" id="redirect-host">{e(redirect_host)}</span>.</p>'
        f'<p>Client: <code id="client-id">{e(client_id)}</code></p>'
        '<form method="post" action="/consent">'
        f'<input type="hidden" name="request" value="{e(request)}">'
        f'<input type="hidden" name="csrf" value="{e(csrf)}">'
        '<div class="actions">'
        '<button type="submit" name="decision" value="allow" class="allow" id="allow">Allow</button>'
        '<button type="submit" name="decision" value="deny" id="deny">Deny</button>'
        "</div></form>"
        "<p>Only allow apps you trust and started connecting yourself.</p>"
    )
    return page(f"Allow {shown}?", body)


def error_page(title: str, message: str, status: int = 400) -> HTMLResponse:
    return page(title, f'<h1>{html.escape(title)}</h1><p id="message">{html.escape(message)}</p>', status)
