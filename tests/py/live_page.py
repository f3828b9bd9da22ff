"""Drives the live traffic page in headless Chromium through chromedriver's
W3C WebDriver HTTP API (stdlib only): load the page, wait for the feed, make
a request through switchyard, see its row appear, open its detail, and save
a screenshot.

usage: live_page.py SWITCHYARD_ADDR CHROMIUM CHROMEDRIVER SCREENSHOT_PNG PROFILE_DIR
"""

import base64
import json
import socket
import subprocess
import sys
import time
import urllib.request

addr, chromium, chromedriver, screenshot, profile = sys.argv[1:6]
MODEL = "claude-live-page-test"
PROMPT = "hello from the live page test"

# Never send the browser or our own requests through a proxy.
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(method, url, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with opener.open(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


def wait(what, fn, timeout=30):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # the page or driver may still be starting
            last = e
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}; last: {last!r}")


port = free_port()
driver = subprocess.Popen([chromedriver, f"--port={port}"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
base = f"http://127.0.0.1:{port}"
session = None
try:
    wait("chromedriver", lambda: call("GET", base + "/status")["value"]["ready"])
    caps = {"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-dev-shm-usage",
                     "--no-proxy-server", f"--user-data-dir={profile}",
                     "--window-size=1400,800"],
        },
    }}}
    session = call("POST", base + "/session", caps, timeout=120)["value"]["sessionId"]
    s = f"{base}/session/{session}"

    def js(script, *args):
        return call("POST", s + "/execute/sync", {"script": script, "args": list(args)})["value"]

    call("POST", s + "/url", {"url": f"http://{addr}/_switchyard/"})
    wait("the feed to connect", lambda: js("return document.getElementById('conn').textContent") == "live")
    assert js("return document.title") == "switchyard · live traffic"
    # Nothing on the page comes from elsewhere.
    external = js("return [...document.querySelectorAll('[src],[href]')].map(e => e.src || e.href)")
    assert not external, external

    body = {"model": MODEL, "max_tokens": 16, "stream": True,
            "messages": [{"role": "user", "content": PROMPT}]}
    req = urllib.request.Request(f"http://{addr}/v1/messages", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with opener.open(req, timeout=60) as resp:
        assert resp.status == 200, resp.status
        resp.read()

    rows = wait("the new row", lambda: [r for r in js(
        "return [...document.querySelectorAll('#requests tbody tr')].map(r => r.innerText)") if MODEL in r])
    print("ROW", rows[0].replace("\t", " | "))
    assert "200" in rows[0] and "anthropic" in rows[0], rows[0]

    # The call's cost (the test prices this model) in its row and in the
    # per-model card, formatted as `switchyard logs` does.
    cost = js("return records.find(r => r.model === arguments[0]).cost_usd", MODEL)
    assert isinstance(cost, (int, float)) and 0 < cost < 0.01, cost
    shown = "$%.6f" % cost
    assert rows[0].split("\t")[-1] == shown, (rows[0], shown)

    tokens = js("return document.querySelector('#tokens tbody').innerText")
    assert MODEL in tokens and shown in tokens, (tokens, shown)

    # Filters: 4xx hides it, 2xx shows it.
    js("const s = document.getElementById('f-status'); s.value = '4'; s.dispatchEvent(new Event('input'));")
    assert not [r for r in js("return [...document.querySelectorAll('#requests tbody tr')].map(r => r.innerText)") if MODEL in r]
    js("const s = document.getElementById('f-status'); s.value = '2'; s.dispatchEvent(new Event('input'));")

    el = call("POST", s + "/element", {"using": "css selector", "value": "#requests tbody tr"})["value"]
    el_id = next(iter(el.values()))
    call("POST", f"{s}/element/{el_id}/click", {})
    detail = wait("the detail panel", lambda: (lambda t: t if PROMPT in t else None)(
        js("return document.getElementById('detail').innerText")))
    assert "message_stop" in detail or "response" in detail.lower(), detail[:500]

    png = call("GET", s + "/screenshot")["value"]
    with open(screenshot, "wb") as f:
        f.write(base64.b64decode(png))
    print("SCREENSHOT", screenshot)
finally:
    if session:
        try:
            call("DELETE", f"{base}/session/{session}")
        except Exception:
            pass
    driver.terminate()
    try:
        driver.wait(10)
    except subprocess.TimeoutExpired:
        driver.kill()
