"""Nested runs, keyboard use of the runs tree and of every dialog, and WCAG AA contrast (axe-core)
in both colour schemes, in Chromium against the seeded server."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.browser.conftest import API, Seeded

pytestmark = pytest.mark.browser

#: axe-core rules run on every page: WCAG AA text contrast, plus structural rules that are cheap
#: and hold for the whole UI (names of controls, valid ARIA, dialogs with names, no nested
#: interactive controls).
AXE_RULES = [
    "color-contrast",
    "aria-allowed-attr",
    "aria-allowed-role",
    "aria-dialog-name",
    "aria-hidden-focus",
    "aria-required-attr",
    "aria-required-children",
    "aria-required-parent",
    "aria-roles",
    "aria-valid-attr",
    "aria-valid-attr-value",
    "button-name",
    "document-title",
    "duplicate-id-aria",
    "frame-title",
    "html-has-lang",
    "image-alt",
    "label",
    "link-name",
    "list",
    "listitem",
    "nested-interactive",
    "select-name",
]


def shown(page: Any) -> list[str]:
    """Run names of the rendered table rows, top to bottom."""
    return page.eval_on_selector_all(  # type: ignore[no-any-return]
        ".grid .row[data-run-id]",
        """rows => rows
            .map(r => [parseInt(r.style.top), r.querySelector('.name a').textContent])
            .sort((a, b) => a[0] - b[0]).map(x => x[1])""",
    )


def assert_shown(page: Any, expected: list[str], timeout: float = 5.0) -> None:
    """The table settles on ``expected`` rows within ``timeout`` s (live refresh re-renders rows,
    so one snapshot can fall between two renders)."""
    deadline = time.monotonic() + timeout
    rows = shown(page)
    while rows != expected and time.monotonic() < deadline:
        page.wait_for_timeout(100)
        rows = shown(page)
    assert rows == expected


def wait_active(page: Any, row_id: str) -> None:
    """Wait until the runs grid's active row (aria-activedescendant) is ``row_id``."""
    page.wait_for_function(
        "id => document.querySelector('.grid').getAttribute('aria-activedescendant') === id",
        arg=row_id,
        timeout=5_000,
    )


def focus_in(page: Any, selector: str) -> bool:
    return page.evaluate(  # type: ignore[no-any-return]
        "s => !!document.querySelector(s)?.contains(document.activeElement)", selector
    )


def focused_label(page: Any) -> str:
    """The focused element's accessible label (aria-label, its <label>, else its text)."""
    return page.evaluate(  # type: ignore[no-any-return]
        """() => { const e = document.activeElement;
                   const label = e.labels && e.labels[0] ? e.labels[0].textContent.trim() : '';
                   return e.getAttribute('aria-label') || label || e.textContent.trim(); }"""
    )


def tab_stays_inside(page: Any, selector: str) -> None:
    """Tab and Shift+Tab, more times than the dialog has controls, never leave it."""
    n = page.evaluate(
        """s => document.querySelector(s).querySelectorAll(
            'a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])').length""",
        selector,
    )
    assert n >= 2
    seen = set()
    for key in ["Tab"] * (n + 2) + ["Shift+Tab"] * (n + 2):
        page.keyboard.press(key)
        assert focus_in(page, selector), f"{key} left {selector}"
        seen.add(page.evaluate("() => document.activeElement.outerHTML.slice(0, 80)"))
    assert len(seen) >= 2  # focus really moved between controls


def test_nested_runs_sit_under_their_parent_and_open_with_keys_or_mouse(
    seeded: Seeded, page: Any, screenshot: Any
) -> None:
    ids = seeded.nested_runs
    page.goto(f"{seeded.url}/#/experiments/{seeded.nested_experiment}")
    grid = page.locator(".grid[role=treegrid]")
    grid.wait_for()
    page.wait_for_selector(f".row[data-run-id='{ids['sweep']}']")
    # Newest first; children hidden under their (collapsed) parent.
    assert_shown(page, ["latest", "sweep", "baseline"])
    count = page.inner_text("[data-testid=run-count]")
    assert count.startswith("7 runs (3 top-level"), count
    sweep = page.locator(f".row[data-run-id='{ids['sweep']}']")
    assert sweep.get_attribute("aria-expanded") == "false"
    assert sweep.get_attribute("aria-level") == "1"
    assert (
        page.locator(f".row[data-run-id='{ids['latest']}']").get_attribute("aria-expanded") is None
    )

    grid.focus()
    page.keyboard.press("ArrowDown")
    wait_active(page, "row-1")
    page.keyboard.press("ArrowRight")  # opens "sweep"
    page.wait_for_selector(f".row[data-run-id='{ids['trial-0']}']")
    assert_shown(page, ["latest", "sweep", "trial-2", "trial-1", "trial-0", "baseline"])
    assert sweep.get_attribute("aria-expanded") == "true"
    trial1 = page.locator(f".row[data-run-id='{ids['trial-1']}']")
    assert trial1.get_attribute("aria-level") == "2"
    assert trial1.get_attribute("aria-expanded") == "false"  # it has a child of its own
    page.keyboard.press("ArrowRight")  # into the first child
    wait_active(page, "row-2")
    page.keyboard.press("ArrowDown")
    wait_active(page, "row-3")
    page.keyboard.press("ArrowRight")  # opens "trial-1": a grandchild
    fold = page.wait_for_selector(f".row[data-run-id='{ids['fold-0']}']")
    assert fold.get_attribute("aria-level") == "3"
    assert shown(page)[3:6] == ["trial-1", "fold-0", "trial-0"]
    page.keyboard.press("ArrowLeft")  # closes "trial-1"
    page.wait_for_selector(f".row[data-run-id='{ids['fold-0']}']", state="detached")
    page.keyboard.press("ArrowDown")  # trial-0
    wait_active(page, "row-4")
    page.keyboard.press("ArrowLeft")  # not open: steps out to its parent
    wait_active(page, "row-1")
    page.keyboard.press(" ")  # selects "sweep"
    page.wait_for_function(f"location.hash.includes('{ids['sweep']}')")
    page.keyboard.press("ArrowLeft")  # closes "sweep"
    page.wait_for_selector(f".row[data-run-id='{ids['trial-0']}']", state="detached")
    assert_shown(page, ["latest", "sweep", "baseline"])

    # The mouse: the ▸ button next to the name.
    page.click(f".row[data-run-id='{ids['sweep']}'] button.twisty")
    page.wait_for_selector(f".row[data-run-id='{ids['trial-0']}']")
    screenshot(page, "runs-nested")
    page.click(f".row[data-run-id='{ids['sweep']}'] button.twisty")
    page.wait_for_selector(f".row[data-run-id='{ids['trial-0']}']", state="detached")

    # A filter or another sort lists runs flat (as MLflow does), children marked with ↳.
    box = page.get_by_label("Filter runs")
    box.fill("attributes.run_name LIKE 'trial%'")
    box.press("Enter")
    page.wait_for_selector(".grid[role=grid]")
    page.wait_for_function("document.querySelectorAll('.grid .row[data-run-id]').length === 3")
    assert_shown(page, ["trial-2", "trial-1", "trial-0"])
    assert page.locator(".grid .row[data-run-id] .nested").count() == 3
    # The API agrees on what the tree holds.
    tree = requests.get(
        f"{seeded.url}/api/aiotrack/runs/table",
        params={"experiment_ids": seeded.nested_experiment, "parent_id": ids["sweep"]},
        timeout=10,
    ).json()
    assert [r["run_name"] for r in tree["runs"]] == ["trial-2", "trial-1", "trial-0"]


def test_column_chooser_dialog_by_keyboard(seeded: Seeded, page: Any) -> None:
    page.goto(f"{seeded.url}/#/experiments/{seeded.nested_experiment}")
    page.wait_for_selector(".grid .row[data-run-id]")
    opener = page.locator("button[aria-haspopup=dialog]", has_text="Columns")
    opener.focus()
    page.keyboard.press("Enter")
    dialog = "[data-testid=column-chooser]"
    page.wait_for_selector(dialog)
    assert page.get_attribute(dialog, "role") == "dialog"
    assert focused_label(page) == "Find a column"  # focus moved into the dialog
    tab_stays_inside(page, dialog)
    # Choose columns without the mouse: type to narrow, Tab to the box, Space to (un)tick it.
    page.locator(f"{dialog} input[type=search]").focus()
    page.keyboard.type("score")
    page.keyboard.press("Tab")
    assert focused_label(page) == "score"
    header = ".grid .header button.sort:text-is('score')"
    assert page.is_checked(f"{dialog} input[type=checkbox]")  # a default column
    page.keyboard.press(" ")
    page.wait_for_selector(header, state="detached")
    assert "metrics.score" not in page.evaluate("decodeURIComponent(location.hash)")
    assert focus_in(page, dialog)
    page.keyboard.press(" ")
    page.wait_for_selector(header)
    page.wait_for_function("decodeURIComponent(location.hash).includes('metrics.score')")
    page.keyboard.press("Escape")
    page.wait_for_selector(dialog, state="detached")
    assert page.evaluate("() => document.activeElement.textContent").startswith("Columns")


def test_confirm_and_rename_dialogs_by_keyboard(seeded: Seeded, page: Any) -> None:
    name = f"dialogs-{uuid.uuid4().hex[:6]}"
    exp = seeded.post("experiments/create", {"name": name})["experiment_id"]
    run_id = seeded.post("runs/create", {"experiment_id": exp, "run_name": "doomed"})["run"][
        "info"
    ]["run_id"]
    page.goto(f"{seeded.url}/#/experiments/{exp}")
    page.wait_for_selector(".grid .row[data-run-id]")
    page.locator(".grid").focus()
    page.keyboard.press(" ")
    delete = page.locator("button", has_text="Delete selected")
    delete.wait_for()
    confirm = "[data-testid=confirm-dialog]"
    # Escape cancels and gives focus back to the button that opened the dialog.
    delete.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(confirm)
    assert page.get_attribute(confirm, "role") == "alertdialog"
    assert page.get_attribute(confirm, "aria-modal") == "true"
    assert focused_label(page) == "Cancel"  # the safe choice first
    tab_stays_inside(page, confirm)
    page.keyboard.press("Escape")
    page.wait_for_selector(confirm, state="detached")
    assert focused_label(page) == "Delete selected"
    assert seeded.get("runs/get", run_id=run_id)["run"]["info"]["lifecycle_stage"] == "active"
    # Enter on "Delete" inside the dialog deletes the run.
    page.keyboard.press("Enter")
    page.wait_for_selector(confirm)
    page.keyboard.press("Tab")
    assert focused_label(page) == "Delete"
    page.keyboard.press("Enter")
    page.wait_for_selector("text=No runs match.")
    assert seeded.get("runs/get", run_id=run_id)["run"]["info"]["lifecycle_stage"] == "deleted"

    # Rename and delete an experiment from the experiments list, keyboard only.
    page.goto(f"{seeded.url}/#/experiments?q={name}")
    rename = page.get_by_role("button", name=f"Rename {name}")
    rename.focus()
    page.keyboard.press("Enter")
    dialog = "[data-testid=rename-dialog]"
    page.wait_for_selector(dialog)
    assert focused_label(page) == "New name"
    tab_stays_inside(page, dialog)
    page.keyboard.press("Escape")
    page.wait_for_selector(dialog, state="detached")
    assert focused_label(page) == f"Rename {name}"
    page.keyboard.press("Enter")
    page.wait_for_selector(dialog)
    page.keyboard.press("Control+a")
    page.keyboard.type(f"{name}-renamed")
    page.keyboard.press("Enter")
    page.wait_for_selector(dialog, state="detached")
    page.wait_for_selector(f"[data-testid=experiments] a:text-is('{name}-renamed')")
    got = requests.get(f"{seeded.url}{API}/experiments/get", params={"experiment_id": exp})
    assert got.json()["experiment"]["name"] == f"{name}-renamed"
    page.goto(f"{seeded.url}/#/experiments?q={name}-renamed")
    remove = page.get_by_role("button", name=f"Delete {name}-renamed")
    remove.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(confirm)
    page.keyboard.press("Escape")
    page.wait_for_selector(confirm, state="detached")
    assert focused_label(page) == f"Delete {name}-renamed"


def _axe(page: Any, script: Path) -> list[str]:
    """axe-core's violations of :data:`AXE_RULES` on the page as it is now, one line each."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(script))
    return page.evaluate(  # type: ignore[no-any-return]
        """async rules => {
            const r = await axe.run(document, {
                runOnly: {type: 'rule', values: rules}, resultTypes: ['violations']});
            return r.violations.flatMap(v => v.nodes.map(n =>
                `${v.id}: ${n.target.join(' ')}: ${n.failureSummary.replace(/\\s+/g, ' ')}`));
        }""",
        AXE_RULES,
    )


def test_every_page_meets_wcag_aa_contrast_in_both_colour_schemes(
    seeded: Seeded, themed_page: Any, axe_script: Path, screenshot: Any
) -> None:
    page = themed_page
    scheme = page.evaluate("() => matchMedia('(prefers-color-scheme: dark)').matches")
    theme = "dark" if scheme else "light"
    found: dict[str, list[str]] = {}

    def check(state: str) -> None:
        found[state] = _axe(page, axe_script)
        screenshot(page, f"a11y-{theme}-{state}")

    url = seeded.url
    page.goto(f"{url}/#/experiments")
    page.wait_for_selector("[data-testid=experiments]")
    # The harness can fail: a grey-on-white line (2.3:1) planted in the page is reported.
    page.evaluate(
        """() => { const p = document.createElement('p'); p.id = 'axe-canary';
                   p.textContent = 'low contrast'; p.style.cssText = 'color:#aaa;background:#fff';
                   document.querySelector('main').append(p); }"""
    )
    canary = _axe(page, axe_script)
    assert any(v.startswith("color-contrast: #axe-canary") for v in canary), canary
    page.evaluate("() => document.getElementById('axe-canary').remove()")
    check("experiments")

    ids = seeded.nested_runs
    page.goto(f"{url}/#/experiments/{seeded.nested_experiment}")
    page.wait_for_selector(f".row[data-run-id='{ids['sweep']}']")
    grid = page.locator(".grid")
    grid.focus()
    page.keyboard.press("ArrowDown")
    wait_active(page, "row-1")
    page.keyboard.press("ArrowRight")
    page.wait_for_selector(f".row[data-run-id='{ids['trial-0']}']")
    page.keyboard.press(" ")  # a selected, active, focused row
    page.wait_for_selector(".row.selected.active")
    check("runs-nested")
    page.locator("button[aria-haspopup=dialog]", has_text="Columns").click()
    page.wait_for_selector("[data-testid=column-chooser]")
    check("column-chooser")
    page.keyboard.press("Escape")
    page.locator("button", has_text="Delete selected").click()
    page.wait_for_selector("[data-testid=confirm-dialog]")
    check("confirm-dialog")
    page.keyboard.press("Escape")

    box = page.get_by_label("Filter runs")
    box.fill("params.x = ")
    box.press("Enter")
    page.wait_for_selector("[data-testid=filter-error]")
    check("filter-error")

    page.goto(f"{url}/#/experiments/{seeded.nested_experiment}?view=chart")
    page.wait_for_selector(".plot[data-ready='1']")
    check("charts")

    page.goto(f"{url}/#/experiments/{seeded.history_experiment}/runs/{seeded.showcase_run}")
    page.wait_for_selector("[data-testid=metrics] svg.spark path")
    check("run-overview")
    if seeded.artifacts_uploaded:
        page.goto(
            f"{url}/#/experiments/{seeded.history_experiment}/runs/{seeded.showcase_run}"
            "?tab=artifacts&file=notes.txt"
        )
        page.wait_for_selector("[data-testid=artifact-preview] pre")
        check("artifacts")

    bad = {state: v for state, v in found.items() if v}
    assert not bad, "\n".join(f"[{theme}/{s}] {line}" for s, v in bad.items() for line in v)
