"""The console in Debian's headless Chromium against a real server: sign in, filter, sort, page,
details, errors, keyboard use, and the screenshots the README links."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from tencentcloud.tcss.v20201101 import models

from imagewarden.api.signing import tc3_sign_request
from imagewarden.inventory.filters import build_image_query
from imagewarden.inventory.models import ImageRow
from tests.console.conftest import Seeded
from tests.e2e.sdk import tcss

pytestmark = pytest.mark.slow


Filters = list[tuple[str, list[str], bool]]


def rows_of(s: Seeded, filters: Filters | None = None, **kw: Any) -> tuple[list[ImageRow], int]:
    """What the store says for a DescribeAssetImageList query: (the page's rows, TotalCount)."""
    query = build_image_query(
        filters or [],
        by=kw.get("by"),
        order=kw.get("order"),
        limit=kw.get("limit", 20),
        offset=kw.get("offset", 0),
    )
    return s.server.service.list_images(s.account_id, query)


def truth(s: Seeded, filters: Filters | None = None, **kw: Any) -> tuple[list[str], int]:
    """(image names of the page, TotalCount) for a query."""
    rows, total = rows_of(s, filters, **kw)
    return [r.image_name for r in rows], total


def names(page: Page) -> Any:
    return page.locator("#rows button.open")


def sign_in(
    page: Page, s: Seeded, secret_key: str | None = None, secret_id: str | None = None
) -> None:
    page.goto(f"{s.base}/console")
    page.get_by_label("SecretId").fill(secret_id or s.secret_id)
    page.get_by_label("SecretKey").fill(secret_key or s.secret_key)
    page.get_by_role("button", name="Sign in").click()


def signed_in(page: Page, s: Seeded) -> None:
    sign_in(page, s)
    expect(names(page)).to_have_text(truth(s)[0])
    expect(page.locator("#top-list > *")).not_to_have_count(0)  # the last part to arrive


def test_the_table_does_not_move_when_the_charts_fill_in(page: Page, seeded: Seeded) -> None:
    """The summary charts arrive after the list; the room they take is kept from the start,
    so the table header does not move under a click (it did: the top list grew by ~100 px
    after the list was shown, and a click on a sort header could land elsewhere)."""
    signed_in(page, seeded)
    heights = page.evaluate(
        """() => {
            const section = document.querySelector(".charts");
            const top = document.querySelector("#top-list");
            const filled = section.getBoundingClientRect().height;
            const kept = [...top.children];
            top.replaceChildren();
            const empty = section.getBoundingClientRect().height;
            top.replaceChildren(...kept);
            return [empty, filled];
        }"""
    )
    assert heights[0] == heights[1], heights


def settle(page: Page) -> None:
    expect(page.locator("#images")).not_to_have_attribute("aria-busy", "true")


def test_sign_in_shows_the_first_page_and_charts(page: Page, seeded: Seeded, shots: Path) -> None:
    page.goto(f"{seeded.base}/console")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("SecretId")).to_be_focused()
    page.screenshot(path=str(shots / "console-signin.png"))
    signed_in(page, seeded)
    _, total = truth(seeded)
    assert total == 47
    expect(page.locator("#total")).to_have_text("47 images")
    expect(page.locator("#range")).to_have_text("1–20 of 47")
    expect(page.locator("#account-id")).to_have_text(seeded.secret_id)
    # the key lives in sessionStorage only
    stored = page.evaluate("sessionStorage.getItem('imagewarden.console.credentials')")
    assert seeded.secret_key in stored
    assert page.evaluate("localStorage.length") == 0 and page.context.cookies() == []
    # default order: CreateTime desc, shown on the header
    expect(page.locator("th[data-key=CreateTime]")).to_have_attribute("aria-sort", "descending")
    expect(page.locator("th[aria-sort=ascending], th[aria-sort=descending]")).to_have_count(1)
    # a row: short ID, human size, counts per column
    row = page.locator("#rows tr").first
    info = rows_of(seeded, limit=1)[0][0]
    cells = row.locator("td")
    expect(cells.nth(0)).to_have_text(info.image_id.removeprefix("sha256:")[:12])
    expect(cells.nth(1)).to_have_text(info.os_name)
    assert re.fullmatch(r"[\d.]+ (kB|MB|GB)", cells.nth(2).inner_text())
    # findings of an image that was not scanned show as a dash, not a zero
    unscanned = page.locator("#rows tr:has(.status-not_scan)").first
    expect(unscanned.locator("td.na")).to_have_text(["–"] * 7)
    # scan status chart: one TotalCount query per status
    counts = {
        st: truth(seeded, [("ScanStatus", [st], False)], limit=1)[1]
        for st in ("NOT_SCAN", "SCANNING", "SCANNED", "SCAN_ERR")
    }
    desc = page.locator("#status-chart desc")
    expect(desc).to_have_text(
        f"Not scanned: {counts['NOT_SCAN']}; Scanning: {counts['SCANNING']}; "
        f"Scanned: {counts['SCANNED']}; Scan failed: {counts['SCAN_ERR']}"
    )
    expect(page.locator("#severity-chart svg[role=img]")).to_have_count(1)
    # most critical: By=CriticalLevelVulCnt desc, images with findings only, each opens its details
    top = [
        r.image_name
        for r in rows_of(seeded, by="CriticalLevelVulCnt", order="desc", limit=5)[0]
        if r.scan_status == "SCANNED" and r.vul_cnt > 0
    ]
    expect(page.locator("#top-list button.open")).to_have_text(top)
    page.screenshot(path=str(shots / "console-images.png"))
    page.locator("#top-list button.open").first.click()
    expect(page.get_by_role("dialog").locator("#detail-title")).to_have_text(top[0])
    page.keyboard.press("Escape")


def test_filters_match_the_api(page: Page, seeded: Seeded, shots: Path) -> None:
    signed_in(page, seeded)
    page.get_by_label("Image name", exact=True).fill("payments/")
    want, total = truth(seeded, [("ImageName", ["payments/"], False)])
    expect(names(page)).to_have_text(want)
    expect(page.locator("#total")).to_have_text(f"{total} images match the filters")
    assert "name=payments%2F" in page.url

    page.get_by_label("Image name", exact=True).fill("registry.example/payments/ledger:1.5.0")
    page.get_by_label("Exact").check()
    expect(names(page)).to_have_text(["registry.example/payments/ledger:1.5.0"])
    page.get_by_label("Image name", exact=True).fill("registry.example/payments/ledger")
    expect(page.locator("#rows td.empty")).to_have_text("No images match these filters.")

    page.get_by_role("button", name="Clear filters").click()
    expect(names(page)).to_have_text(truth(seeded)[0])

    some_id = next(iter(seeded.images))
    page.get_by_label("Image ID (prefix)", exact=True).fill(some_id[7:17])
    page.get_by_label("Image ID (prefix)", exact=True).press("Enter")
    expect(names(page)).to_have_text(truth(seeded, [("ImageID", [some_id[7:17]], False)])[0])
    page.get_by_role("button", name="Clear filters").click()

    page.get_by_label("Scan status", exact=True).select_option("SCAN_ERR")
    expect(names(page)).to_have_text(truth(seeded, [("ScanStatus", ["SCAN_ERR"], False)])[0])
    expect(page.locator("#rows .badge")).to_have_text(["Scan failed"] * 3)
    page.get_by_label("Scan status", exact=True).select_option("SCANNED")

    page.get_by_label("Critical vulnerabilities").check()
    page.get_by_label("Viruses", exact=True).check()
    filters = [
        ("ScanStatus", ["SCANNED"], False),
        ("SecurityRisk", ["CriticalLevelVul", "VirusCnt"], False),
    ]
    want, total = truth(seeded, filters)
    assert 0 < total < 47
    expect(names(page)).to_have_text(want)
    expect(page.locator("#total")).to_have_text(f"{total} images match the filters")
    # the status chart counts with every filter but ScanStatus
    scanned = truth(seeded, [filters[1], ("ScanStatus", ["SCANNED"], False)], limit=1)[1]
    expect(page.locator("#status-chart desc")).to_contain_text(f"Scanned: {scanned};")
    page.screenshot(path=str(shots / "console-filtered.png"))

    # the state is in the URL: a reload (same tab, same session) shows the same list
    page.reload()
    expect(names(page)).to_have_text(want)
    expect(page.get_by_label("Critical vulnerabilities")).to_be_checked()
    expect(page.get_by_label("Scan status", exact=True)).to_have_value("SCANNED")


def test_sort_by_clicking_headers(page: Page, seeded: Seeded) -> None:
    signed_in(page, seeded)
    size = page.locator("th[data-key=Size]")
    size.get_by_role("button").click()
    expect(size).to_have_attribute("aria-sort", "descending")
    expect(names(page)).to_have_text(truth(seeded, by="Size", order="desc")[0])
    size.get_by_role("button").click()
    expect(size).to_have_attribute("aria-sort", "ascending")
    expect(names(page)).to_have_text(truth(seeded, by="Size", order="asc")[0])
    expect(page.locator("th[data-key=CreateTime]")).to_have_attribute("aria-sort", "none")

    name = page.locator("th[data-key=ImageName]")
    name.get_by_role("button").click()
    expect(name).to_have_attribute("aria-sort", "ascending")  # names start A→Z
    expect(names(page)).to_have_text(truth(seeded, by="ImageName", order="asc")[0])

    crit = page.locator("th[data-key=CriticalLevelVulCnt]")
    crit.get_by_role("button").click()
    expect(crit).to_have_attribute("aria-sort", "descending")
    expect(names(page)).to_have_text(truth(seeded, by="CriticalLevelVulCnt", order="desc")[0])


def test_paging(page: Page, seeded: Seeded) -> None:
    signed_in(page, seeded)
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#range")).to_have_text("21–40 of 47")
    expect(names(page)).to_have_text(truth(seeded, offset=20)[0])
    page.get_by_role("button", name="Last page").click()
    expect(page.locator("#range")).to_have_text("41–47 of 47")
    expect(names(page)).to_have_text(truth(seeded, offset=40)[0])
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    page.get_by_role("button", name="Previous page").click()
    expect(page.locator("#range")).to_have_text("21–40 of 47")
    page.get_by_label("Page", exact=True).fill("3")
    page.get_by_label("Page", exact=True).press("Enter")
    expect(page.locator("#range")).to_have_text("41–47 of 47")
    page.get_by_label("Rows per page").select_option("10")
    expect(page.locator("#range")).to_have_text("1–10 of 47")
    expect(page.locator("#pages")).to_have_text("5")
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#range")).to_have_text("11–20 of 47")
    page.get_by_role("button", name="First page").click()
    expect(page.get_by_role("button", name="First page")).to_be_disabled()
    expect(names(page)).to_have_text(truth(seeded, limit=10)[0])


def test_detail_drawer(page: Page, seeded: Seeded, shots: Path) -> None:
    signed_in(page, seeded)
    page.locator("th[data-key=CriticalLevelVulCnt]").get_by_role("button").click()
    expect(names(page).first).to_have_text(
        truth(seeded, by="CriticalLevelVulCnt", order="desc")[0][0]
    )
    top = rows_of(seeded, by="CriticalLevelVulCnt", order="desc", limit=1)[0][0]
    opener = names(page).first
    opener.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#detail-title")).to_have_text(top.image_name)
    field = lambda k: dialog.locator(f"dd[data-field={k}]")  # noqa: E731
    expect(field("ImageID")).to_have_text(top.image_id)
    expect(field("CriticalLevelVulCnt")).to_have_text(str(top.critical_level_vul_cnt))
    expect(field("HostCnt")).to_have_text(str(top.host_cnt))
    expect(field("ScanStatus")).to_have_text("Scanned")
    expect(dialog.get_by_role("tab", name="Overview")).to_have_attribute("aria-selected", "true")
    expect(dialog.get_by_role("button", name="Close details")).to_be_focused()
    # the vulnerabilities tab lists what DescribeAssetImageVulList answers, worst first
    req = models.DescribeAssetImageVulListRequest()
    req.ImageID = top.image_id
    req.Limit = 100
    req.By = "Level"
    req.Order = "desc"
    want = tcss(
        seeded.server.endpoint, seeded.secret_id, seeded.secret_key
    ).DescribeAssetImageVulList(req)
    assert want.TotalCount == top.vul_cnt > 0
    dialog.get_by_role("tab", name="Vulnerabilities").click()
    panel = dialog.get_by_role("tabpanel", name="Vulnerabilities")
    expect(panel.locator("tbody th[data-field=CVEID]")).to_have_text([v.CVEID for v in want.List])
    expect(panel.locator("td[data-field=Level]").first).to_have_text("Critical")
    dialog.get_by_role("tab", name="Hosts").click()
    hosts = dialog.get_by_role("tabpanel", name="Hosts").locator("tbody th[data-field=HostID]")
    expect(hosts).to_have_count(top.host_cnt)
    dialog.get_by_role("tab", name="Vulnerabilities").click()
    page.screenshot(path=str(shots / "console-detail.png"))
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()  # focus goes back where it was


def test_keyboard_navigation(page: Page, seeded: Seeded) -> None:
    signed_in(page, seeded)
    names(page).first.focus()
    page.keyboard.press("ArrowDown")
    expect(names(page).nth(1)).to_be_focused()
    page.keyboard.press("End")
    expect(names(page).last).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.press("Escape")
    hosts = page.locator("th[data-key=HostCnt]")
    hosts.get_by_role("button").focus()
    page.keyboard.press("Enter")
    expect(hosts).to_have_attribute("aria-sort", "descending")
    page.keyboard.press("Space")
    expect(hosts).to_have_attribute("aria-sort", "ascending")
    # every filter control is labelled
    for label in (
        "Image name",
        "Exact",
        "Image ID (prefix)",
        "Scan status",
        "Trusted",
        "Rows per page",
    ):
        expect(page.get_by_label(label, exact=True)).to_have_count(1)


def test_bad_keys_show_the_api_error(page: Page, seeded: Seeded, shots: Path) -> None:
    sign_in(page, seeded, secret_key="not-the-key")
    err = page.locator("#signin-error")
    expect(err).to_contain_text("AuthFailure.SignatureFailure")
    expect(err).to_have_attribute("role", "alert")
    page.screenshot(path=str(shots / "console-signin-error.png"))
    assert page.evaluate("sessionStorage.length") == 0
    sign_in(page, seeded, secret_id="AKIDnoSuchKey0000000000000000000000")
    expect(err).to_contain_text("AuthFailure.SecretIdNotFound")
    expect(page.locator("#app-view")).to_be_hidden()


def test_errors_while_signed_in_are_shown(page: Page, seeded: Seeded) -> None:
    sid, skey, _ = seeded.server.service.create_key(seeded.account)
    sign_in(page, seeded, secret_id=sid, secret_key=skey)
    expect(names(page)).to_have_count(20)
    seeded.server.service.disable_key(sid)
    time.sleep(0.6)  # the server caches a key for half a second
    page.get_by_role("button", name="Refresh").click()
    banner = page.locator("#error")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("AuthFailure")
    expect(banner).to_contain_text("RequestId")
    page.get_by_role("button", name="Sign in again").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_the_page_signs_like_the_server_expects(page: Page, seeded: Seeded) -> None:
    page.goto(f"{seeded.base}/console")
    got = page.evaluate(
        """async () => {
            const { signRequest } = await import('/console/tc3.js');
            return signRequest({ secretId: 'AKIDx', secretKey: 'k', action: 'DescribeAssetImageList',
                                 version: '2020-11-01', host: location.host, body: '{"Limit":1}',
                                 timestamp: 1700000000 });
        }"""
    )
    want = tc3_sign_request(
        secret_id="AKIDx",
        secret_key="k",
        action="DescribeAssetImageList",
        version="2020-11-01",
        host=seeded.server.endpoint,
        body=b'{"Limit":1}',
        timestamp=1700000000,
        language="en-US",
    )
    want.pop("Host")
    assert got == want
