"""The console in headless Chromium (Debian's, driven by Playwright) against a real shim.

Matrix: the units page lists a unit applied with kubectl within 2 s of its becoming Ready,
without a reload, and fits a narrow screen; labels and the keyboard reach the filters and a
unit, and Ctrl + arrow keys pan a diagram; a unit's page draws its BPMN as SVG with the process's
elements, its DMN as a decision table and other text with colours; a BPMN the engine refuses
shows the refusal and marks the offending task in the diagram; the diff of two versions marks
the one changed task; in auth mode `kubernetes` the page asks for a token, and a token without
rights sees no unit. Each test saves a screenshot of its page in DEPLOYUNITS_SCREENSHOTS
(`.dev/screenshots` by default).
"""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from devcluster.processes import OperatorProcess, ShimProcess
from tests.support import rbac
from tests.support.cluster import Cluster
from tests.support.console import apply_ready_unit, apply_unit, decision_table, drawn_process
from tests.support.engine import RunningEngine, add_engine

pytestmark = pytest.mark.usefixtures("operator")

#: Debian's chromium (`make browser` installs it); Playwright never downloads a browser here.
CHROMIUM = Path(os.environ.get("DEPLOYUNITS_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(os.environ.get("DEPLOYUNITS_SCREENSHOTS", ".dev/screenshots"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make browser` installs Debian's")
    with sync_playwright() as playwright:
        # Root in CI containers cannot use Chromium's sandbox.
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    opened.screenshot(path=SCREENSHOTS / f"{request.node.name}.png", full_page=True)
    context.close()


def test_the_units_page_shows_a_new_unit_live_and_fits_a_narrow_screen(
    cluster: Cluster, operator: OperatorProcess, shim: ShimProcess, page: Page, namespace: str
) -> None:
    page.goto(f"{shim.url}/console/")
    expect(page.get_by_role("heading", name="Deployment units")).to_be_visible()
    expect(page.locator(".live.on")).to_be_visible()
    apply_ready_unit(cluster, operator, namespace, "fresh", {"fresh.bpmn": drawn_process("fresh")})
    row = page.locator(f'tr[data-unit="{namespace}/fresh"]')
    # Live: the same page, no reload, within 2 s of the unit's becoming Ready.
    expect(row.get_by_text("Ready: True")).to_be_visible(timeout=2000)
    expect(row).to_contain_text("DEPLOYED")
    # The filters have labels; typing narrows the list to the unit.
    page.get_by_label("Filter").fill(f"{namespace}-fresh")
    expect(page.locator("tbody tr")).to_have_count(1)
    # Keyboard: the unit's link is reachable and opens its page.
    link = row.get_by_role("link", name="fresh")
    link.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="fresh", exact=True)).to_be_visible()
    page.go_back()
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_label("Filter")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "the page scrolls sideways on a narrow screen"


def test_a_units_page_draws_its_bpmn_and_dmn_and_colours_other_text(
    cluster: Cluster, operator: OperatorProcess, shim: ShimProcess, page: Page, namespace: str
) -> None:
    resources = {
        "drawn.bpmn": drawn_process("drawn", "Approve"),
        "rules.dmn": decision_table("discount"),
        "form.json": b'{"field": "amount"}',
    }
    apply_ready_unit(cluster, operator, namespace, "drawn", resources)
    page.goto(f"{shim.url}/console/#/unit/{namespace}/drawn")
    diagram = page.get_by_role("group", name="Diagram of drawn.bpmn")
    for element in ("start", "toTask", "task", "toEnd", "end"):
        expect(diagram.locator(f'svg g[data-element-id="{element}"]')).to_have_count(1)
    expect(diagram.locator('svg[data-element-id="drawn"]')).to_contain_text("Approve")
    # Keyboard: the drawing takes the focus and Ctrl + arrow keys pan it (the page says so).
    canvas = diagram.locator('svg[data-element-id="drawn"]')
    viewport = canvas.locator("g.viewport")
    before = viewport.get_attribute("transform") or ""
    canvas.focus()
    page.keyboard.press("Control+ArrowLeft")
    expect(viewport).not_to_have_attribute("transform", before)
    expect(page.get_by_text("Ctrl + arrow keys").first).to_be_visible()
    expect(page.get_by_role("table", name="Definitions")).to_contain_text("drawn")
    expect(page.get_by_role("table", name="Conditions")).to_contain_text("Ready")
    expect(page.get_by_role("table", name="Events")).to_contain_text("Deployed")
    decisions = page.get_by_role("group", name="Decisions of rules.dmn")
    expect(decisions.locator(".tjs-table")).to_contain_text('"gold"')
    text = page.get_by_label("Content of form.json")
    expect(text.locator(".hljs-attr")).to_have_text('"field"')


def test_a_refused_bpmn_shows_the_error_and_marks_the_element(
    cluster: Cluster,
    operator: OperatorProcess,
    shim: ShimProcess,
    camunda7: RunningEngine,
    page: Page,
    namespace: str,
) -> None:
    add_engine(cluster, namespace, camunda7)
    cluster.wait_condition("camunda", namespace, "Ready", operator, kind="pe")
    broken = drawn_process("broken_" + namespace.replace("-", "_"), broken=True)
    apply_unit(cluster, namespace, "broken", {"broken.bpmn": broken}, engine="camunda")
    cluster.wait_condition("broken", namespace, "Stalled", operator)
    page.goto(f"{shim.url}/console/#/unit/{namespace}/broken")
    expect(page.get_by_role("alert")).to_contain_text("serviceTask")
    problems = page.get_by_role("list", name="Problems in broken.bpmn")
    expect(problems).to_contain_text("(element task)")
    diagram = page.get_by_role("group", name="Diagram of broken.bpmn")
    expect(diagram.locator('g.djs-element.problem[data-element-id="task"]')).to_have_count(1)
    expect(diagram.locator("g.djs-element.problem")).to_have_count(1)


def test_the_diff_of_two_versions_marks_the_changed_task(
    cluster: Cluster, operator: OperatorProcess, shim: ShimProcess, page: Page, namespace: str
) -> None:
    apply_ready_unit(
        cluster, operator, namespace, "v1", {"order.bpmn": drawn_process("order", "Pack")}
    )
    apply_ready_unit(
        cluster, operator, namespace, "v2", {"order.bpmn": drawn_process("order", "Pack and ship")}
    )
    page.goto(f"{shim.url}/console/#/versions/{namespace}/order")
    expect(page.get_by_role("heading", name="Versions of order")).to_be_visible()
    newer = page.get_by_role("group", name="Diagram of version 2 in v2")
    expect(newer.locator('g.djs-element.diff-changed[data-element-id="task"]')).to_have_count(1)
    # The one changed task, nothing else.
    marked = ", ".join(f"g.djs-element.diff-{k}" for k in ("added", "removed", "changed", "moved"))
    expect(page.locator(marked)).to_have_count(2)  # the task, in the older and the newer
    changes = page.get_by_role("list", name="Changed elements").locator("li")
    expect(changes).to_have_count(1)
    expect(changes).to_contain_text('name: "Pack" → "Pack and ship"')
    xml = page.get_by_label("XML diff")
    expect(xml.locator(".line.removed")).to_contain_text('name="Pack"')
    expect(xml.locator(".line.added")).to_contain_text('name="Pack and ship"')


class TestKubernetesAuth:
    @pytest.fixture(scope="class")
    def guarded(self, start_shim: Callable[..., ShimProcess]) -> ShimProcess:
        return start_shim(auth_mode="kubernetes")

    def test_a_token_without_rights_sees_nothing(
        self,
        cluster: Cluster,
        operator: OperatorProcess,
        guarded: ShimProcess,
        page: Page,
        namespace: str,
    ) -> None:
        apply_ready_unit(
            cluster, operator, namespace, "secret", {"secret.bpmn": drawn_process("secret")}
        )
        tokens = rbac.accounts(
            cluster, namespace, {"nobody": {}, "reader": {"deploymentunits": ["get", "list"]}}
        )
        page.goto(f"{guarded.url}/console/")
        page.get_by_label("Bearer token").fill(tokens["nobody"])
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Deployment units")).to_be_visible()
        expect(page.locator(".live.on")).to_be_visible()
        expect(page.locator(".count")).to_have_text("0 of 0 units")
        expect(page.locator(f'tr[data-unit="{namespace}/secret"]')).to_have_count(0)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / "test_a_token_without_rights_sees_nothing-list.png")
        page.goto(f"{guarded.url}/console/#/unit/{namespace}/secret")
        page.reload()
        # A reload forgets the token (it lived in the tab's memory): the page asks again.
        page.get_by_label("Bearer token").fill(tokens["nobody"])
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("Forbidden")
        page.reload()
        page.get_by_label("Bearer token").fill(tokens["reader"])
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="secret", exact=True)).to_be_visible()
