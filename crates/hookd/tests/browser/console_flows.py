"""The console and the portal in Chromium, used as a person would.

Run by the integration test `console::flows_in_a_real_browser`, which starts
hookd and a receiver and passes their addresses:

  HOOKD_URL       the server
  HOOKD_TOKEN     its operator token
  RECEIVER_URL    a receiver: /ok answers 200 with JSON, /html answers 500
                  with a <script> body
  SCREENSHOTS     where the screenshots go

Each flow raises on the first thing that is not as a user would expect; the
script exits non-zero with the failing flow's name.
"""

import json
import os
import re
import sys
import time
import traceback
import urllib.error
import urllib.request

from playwright.sync_api import expect, sync_playwright

BASE = os.environ["HOOKD_URL"]
ADMIN = os.environ["HOOKD_TOKEN"]
RX = os.environ["RECEIVER_URL"]
SHOTS = os.environ["SCREENSHOTS"]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

expect.set_options(timeout=15_000)


def call(method, path, body=None, token=ADMIN):
    """The API as a producer uses it: (status, JSON body)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req) as r:
            text = r.read()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read()
        return e.code, json.loads(text) if text else None


def until(what, check, seconds=20):
    """Asks the API until `check` answers something true (a delivery is
    asynchronous); fails with `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def shot(page, name, full=True):
    # Toasts come and go: the picture waits for them to go, to show the page.
    expect(page.locator(".toast")).to_have_count(0)
    # From the top: a full-page picture of a scrolled page shows its sticky header mid-page.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=full)


def no_sideways_scroll(page, where):
    width = page.evaluate("document.documentElement.scrollWidth")
    view = page.evaluate("window.innerWidth")
    assert width <= view, f"{where}: the page is {width}px wide in a {view}px window"


class Console:
    def __init__(self, browser):
        self.errors = []
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.watch(self.context.new_page())

    def watch(self, page):
        page.on("console", lambda m: self.errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"{page.url}: {e}"))
        return page


def sign_in(c):
    p = c.page
    p.goto(BASE + "/console/")
    shot(p, "sign-in", full=False)
    p.get_by_label("Operator token").fill("not-the-token")
    p.get_by_role("button", name="Sign in").click()
    expect(p.locator('[data-field="token"] .error')).to_contain_text("not valid")
    p.get_by_label("Operator token").fill(ADMIN)
    p.get_by_role("button", name="Sign in").click()
    expect(p.get_by_role("heading", name="Applications")).to_be_visible()
    cookie = next(k for k in c.context.cookies() if k["name"] == "hookd_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
    # The cookie alone does not let a page change anything: a write needs the CSRF token.
    r = p.request.post(BASE + "/api/v1/app", data={"name": "forged"})
    assert r.status == 403, r.status
    assert not [a for a in call("GET", "/api/v1/app?limit=250")[1]["data"] if a["name"] == "forged"]


def create_application(c):
    p = c.page
    p.get_by_label("Name").fill("Acme Inc.")
    p.get_by_label("UID").fill("acme")
    p.get_by_role("button", name="Create application").click()
    expect(p.get_by_role("heading", name="Acme Inc.")).to_be_visible()
    assert "app=app_" in p.url, p.url
    # The catalogue a producer would have set up.
    for name, desc in [("invoice.paid", "An invoice was paid"), ("user.deleted", "A user was deleted")]:
        status, body = call("POST", "/api/v1/event-type", {
            "name": name, "description": desc,
            "schemas": {"1": {"type": "object", "examples": [{"invoice": "inv_1", "amount": 4200}]}},
        })
        assert status == 201, (status, body)
    call("POST", "/api/v1/app", {"name": "Globex", "uid": "globex"})
    # The search asks the server, so it finds applications not loaded yet.
    p.get_by_role("link", name="Applications").click()
    p.get_by_label("Search applications").fill("GLOB")
    expect(p.get_by_role("link", name="Globex")).to_be_visible()
    expect(p.get_by_role("link", name="Acme Inc.")).to_have_count(0)
    p.get_by_label("Search applications").fill("acm")
    p.get_by_role("link", name="Acme Inc.").click()
    expect(p.get_by_role("heading", name="Acme Inc.")).to_be_visible()


def create_endpoint(c):
    p = c.page
    p.get_by_role("link", name="Endpoints").click()
    expect(p.get_by_text("No endpoints yet")).to_be_visible()
    p.get_by_role("button", name="New endpoint").click()
    # Bad input: the API's message next to the field, and nothing saved.
    p.get_by_label("URL").fill("not a url")
    p.get_by_role("button", name="Create endpoint").click()
    expect(p.locator('[data-field="url"] .error')).not_to_be_empty()
    assert call("GET", "/api/v1/app/acme/endpoint")[1]["data"] == []
    p.get_by_label("URL").fill(RX + "/ok")
    p.get_by_label("Description").fill("Billing receiver")
    p.get_by_label("invoice.paid").check()
    p.get_by_label("Custom headers").fill("X-Tenant: acme")
    shot(p, "endpoint-form")
    p.get_by_role("button", name="Create endpoint").click()
    expect(p.get_by_role("heading", name=RX + "/ok")).to_be_visible()
    eps = call("GET", "/api/v1/app/acme/endpoint")[1]["data"]
    assert len(eps) == 1 and eps[0]["eventTypes"] == ["invoice.paid"], eps
    assert call("GET", f"/api/v1/app/acme/endpoint/{eps[0]['id']}/headers")[1]["headers"] == {"X-Tenant": "acme"}
    # A second endpoint whose receiver answers with HTML.
    status, _ = call("POST", "/api/v1/app/acme/endpoint", {"url": RX + "/html", "description": "<b>bold</b> receiver"})
    assert status == 201


def delivery_and_attempt(c):
    p = c.page
    status, msg = call("POST", "/api/v1/app/acme/msg", {
        "eventType": "invoice.paid",
        "payload": {"note": '<img src=x onerror=window.__pwned=1>', "amount": 4200},
    })
    assert status == 202, (status, msg)
    c.msg_id = msg["id"]
    p.get_by_role("link", name="Messages").click()
    row = p.get_by_role("link", name="invoice.paid").first
    expect(row).to_be_visible()
    shot(p, "messages")
    row.click()
    # The page looks again while the first attempts are on their way.
    ok = p.locator("details.attempt", has_text=RX + "/ok")
    expect(ok).to_be_visible()
    expect(p.locator("details.attempt", has_text=RX + "/html")).to_be_visible()
    expect(p.locator("#payload")).to_contain_text('<img src=x onerror=window.__pwned=1>')
    assert p.locator("#payload img").count() == 0
    ok.locator("summary").click()
    expect(ok.locator("pre.response")).to_contain_text('"received": true')
    html = p.locator("details.attempt", has_text=RX + "/html")
    html.locator("summary").click()
    expect(html.locator("pre.response")).to_contain_text("<script>window.__pwned=2</script>")
    assert p.evaluate("window.__pwned") is None, "a stranger's markup ran"
    shot(p, "message")


def resend(c):
    p = c.page
    before = len(call("GET", f"/api/v1/app/acme/attempt/msg/{c.msg_id}")[1]["data"])
    p.locator("tr", has_text=RX + "/ok").get_by_role("button", name="Resend").click()
    expect(p.get_by_role("status").filter(has_text="Resent")).to_be_visible()
    until("the resent attempt", lambda: len(call("GET", f"/api/v1/app/acme/attempt/msg/{c.msg_id}")[1]["data"]) > before)
    p.reload()
    expect(p.locator("details.attempt", has_text=RX + "/ok")).to_have_count(2)


def secret_test_and_state(c):
    p = c.page
    p.get_by_role("link", name="Endpoints").click()
    p.get_by_role("link", name=RX + "/ok").click()
    p.get_by_role("button", name="Reveal").click()
    first = p.locator("#secret").inner_text()
    assert first.startswith("whsec_"), first
    p.get_by_role("button", name="Rotate").click()
    p.get_by_role("dialog").get_by_role("button", name="Rotate secret").click()
    expect(p.locator("#secret")).not_to_have_text(first)
    ep_id = next(e["id"] for e in call("GET", "/api/v1/app/acme/endpoint")[1]["data"] if e["url"] == RX + "/ok")
    key = call("GET", f"/api/v1/app/acme/endpoint/{ep_id}/secret")[1]["key"]
    expect(p.locator("#secret")).to_have_text(key)
    # Send test: the receiver's answer at once.
    p.get_by_role("button", name="Send test").click()
    expect(p.locator(".result")).to_contain_text("HTTP 200")
    shot(p, "endpoint")
    # Disable, then enable; the state shows and the API agrees.
    p.get_by_role("button", name="Disable").click()
    expect(p.locator(".head .badge", has_text="Disabled")).to_be_visible()
    assert call("GET", f"/api/v1/app/acme/endpoint/{ep_id}")[1]["disabled"] is True
    p.get_by_role("button", name="Enable").click()
    expect(p.locator(".head .badge", has_text="Enabled")).to_be_visible()


def overview_and_catalogue(c):
    p = c.page
    p.get_by_role("link", name="Overview").click()
    expect(p.locator(".chart svg rect.bar-ok").first).to_be_attached()
    shot(p, "overview")
    p.get_by_role("link", name="Event types").click()
    p.get_by_role("button", name="New event type").click()
    p.get_by_label("Name").fill("report.published")
    p.get_by_label("Description").fill("A report was published")
    p.get_by_label("JSON Schemas by version").fill('{"1": {"type": "object"')
    p.get_by_role("button", name="Create event type").click()
    expect(p.locator('[data-field="schemas"] .error')).to_contain_text("not valid JSON")
    p.get_by_label("JSON Schemas by version").fill('{"1": {"type": "object", "examples": [{"report": "r-1"}]}}')
    p.get_by_role("button", name="Create event type").click()
    expect(p.get_by_role("heading", name="report.published")).to_be_visible()
    assert call("GET", "/api/v1/event-type/report.published")[0] == 200
    shot(p, "event-types")


def narrow_screen(c):
    p = c.page
    p.set_viewport_size({"width": 390, "height": 844})
    for tab in ["Overview", "Endpoints", "Messages", "Event types"]:
        p.get_by_role("link", name=tab).click()
        expect(p.locator("main .loading")).to_have_count(0)
        no_sideways_scroll(p, tab)
    p.get_by_role("link", name="Messages").click()
    p.get_by_role("link", name="invoice.paid").first.click()
    expect(p.locator("#payload")).to_be_visible()
    no_sideways_scroll(p, "a message")
    shot(p, "message-390px")
    p.set_viewport_size({"width": 1280, "height": 900})
    # Keyboard: the first Tab reaches a control, and the focus can be seen.
    p.keyboard.press("Tab")
    outline = p.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert p.evaluate("document.activeElement.tagName") in ("A", "BUTTON"), "Tab reached nothing"
    assert outline != "none", "focus is invisible"


def portal(c, browser):
    status, link = call("POST", "/api/v1/auth/app-portal-access/acme", {})
    assert status == 200, link
    assert "#token=" in link["url"]
    # A consumer's own browser: no operator cookie.
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = c.watch(ctx.new_page())
    page.goto(link["url"].replace("#", "&primary=%23db2777&theme=dark#"))
    expect(page.get_by_role("heading", name="Acme Inc.")).to_be_visible()
    assert "token" not in page.url, "the token stayed in the address bar"
    expect(page.get_by_role("link", name="Applications")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    page.get_by_role("link", name="Endpoints").click()
    expect(page.get_by_role("button", name="New endpoint")).to_be_visible()
    shot(page, "portal")
    # Another application is out of reach: by the portal's token, and by the page.
    assert call("GET", "/api/v1/app/globex/endpoint", token=link["token"])[0] == 404
    page.goto(BASE + "/console/?app=globex")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    # Deep link into one endpoint, in an iframe on hookd's own origin.
    ep_id = call("GET", "/api/v1/app/acme/endpoint")[1]["data"][0]["id"]
    status, ro = call("POST", "/api/v1/auth/app-portal-access/acme", {"readOnly": True})
    assert status == 200
    frame_url = ro["url"].replace("#", f"&view=endpoint&id={ep_id}&hideNav=1#")
    # The customer's own page, on hookd's origin (what frame-ancestors 'self' allows).
    host = (f'<!doctype html><link rel="icon" href="data:,"><h1>Your account</h1>'
            f'<iframe src="{frame_url}" width="1200" height="800" title="Webhooks"></iframe>')
    page.route(BASE + "/embedding-page", lambda route: route.fulfill(body=host, content_type="text/html"))
    page.goto(BASE + "/embedding-page")
    inner = page.frame_locator("iframe")
    expect(inner.get_by_role("heading", name=RX)).to_be_visible()
    expect(inner.get_by_role("button", name="Reveal")).to_be_visible()
    for control in ["Edit", "Delete", "Disable", "Rotate", "Send test"]:
        expect(inner.get_by_role("button", name=control)).to_have_count(0)
    expect(inner.locator(".tabs")).to_have_count(0)
    # The server refuses its writes too.
    status, _ = call("PATCH", f"/api/v1/app/acme/endpoint/{ep_id}", {"disabled": True}, token=ro["token"])
    assert status == 403, status
    shot(page, "portal-read-only")
    ctx.close()


def sign_out(c):
    p = c.page
    p.goto(BASE + "/console/")
    p.get_by_role("button", name="Sign out").click()
    expect(p.get_by_role("heading", name="Sign in")).to_be_visible()
    r = p.request.get(BASE + "/api/v1/app")
    assert r.status == 401, f"the session still works after signing out: {r.status}"


def main():
    os.makedirs(SHOTS, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        c = Console(browser)
        flows = [sign_in, create_application, create_endpoint, delivery_and_attempt, resend,
                 secret_test_and_state, overview_and_catalogue, narrow_screen,
                 lambda c: portal(c, browser), sign_out]
        for flow in flows:
            name = getattr(flow, "__name__", "flow")
            try:
                flow(c)
            except Exception:
                traceback.print_exc()
                shot(c.page, "failed")
                print(f"FAILED: {name}", file=sys.stderr)
                return 1
        browser.close()
    # Chromium logs every 4xx answer as an error; those the flows provoke on
    # purpose (a wrong token, invalid input) were shown to the user. Anything
    # else, and every uncaught script error, fails.
    errors = [e for e in c.errors if not re.search(r"Failed to load resource: the server responded with a status of 4(22|03)", e)]
    if errors:
        print("script errors in the browser console:\n" + "\n".join(errors), file=sys.stderr)
        return 1
    print("console flows: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
