"""axe-core (from npm, pinned in package-lock.json) run inside the page under test: WCAG 2.1 A and AA rules."""
import json
import re

import pytest

from tests.e2e.conftest import ARTIFACTS, ROOT, screenshot

AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# Runs axe on the whole document and keeps what a person needs to find and fix each violation.
_RUN = """tags => axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]})
  .then(result => result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target.join(" "), html: n.html.slice(0, 160),
                              summary: (n.failureSummary || "").split("\\n").slice(0, 3).join(" ")}))})))"""


def axe_source():
    """The axe-core script; a clear failure when `npm ci` has not run."""
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: run `npm ci` at the top of the checkout (`make test` does)")
    return AXE_JS.read_text()


def violations(page):
    """axe-core's WCAG 2.1 A + AA violations of the page as it is now."""
    if not page.evaluate("typeof window.axe === 'object'"):
        # evaluate() runs as the browser's tooling, outside the page's Content-Security-Policy, which rightly
        # refuses an injected <script>.
        page.evaluate(axe_source())
    return page.evaluate(_RUN, WCAG_21_AA)


def describe(state, found):
    """Violations of one state as lines a person can read."""
    lines = []
    for v in found:
        lines.append(f"[{state}] {v['id']} ({v['impact']}): {v['help']} — {len(v['nodes'])} element(s)")
        lines += [f"    {n['target']}: {n['summary']}\n      {n['html']}" for n in v["nodes"][:5]]
    return "\n".join(lines)


class Audit:
    """Violations per state, printed readably and saved to test-artifacts/<name>.json."""

    def __init__(self, page, name="axe-report"):
        self.page, self.name, self.states = page, name, {}

    def check(self, state, shot=False):
        """Audit the page in its current state under this name (and keep a screenshot of it with shot)."""
        assert state not in self.states, f"state {state!r} audited twice"
        self.states[state] = violations(self.page) + self._reflow()
        if shot:  # a modal dialog sits in the window: the window is what a person sees then
            name = f"{self.name}-{re.sub(r'[^a-z0-9]+', '-', state)}"
            if self.page.locator("dialog[open]").count():
                self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
            else:
                screenshot(self.page, name)

    def _reflow(self):
        """SC 1.4.10, which axe leaves to people: at phone width the page itself must not scroll sideways."""
        wide = self.page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if self.page.viewport_size["width"] > 400 or wide <= 0:
            return []
        return [{"id": "reflow", "impact": "serious", "help": f"the page scrolls sideways by {wide} px",
                 "url": "https://www.w3.org/WAI/WCAG21/Understanding/reflow", "nodes": [
                     {"target": "html", "html": "", "summary": "a wide element outside a scrolling wrapper"}]}]

    def report(self):
        """One line per state with its count, then every violation in full."""
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"{self.name}.json").write_text(json.dumps(self.states, indent=1))
        counts = "\n".join(f"{state:32} {sum(len(v['nodes']) for v in found):3} element(s), "
                           f"{len(found)} rule(s)" for state, found in self.states.items())
        details = "\n".join(describe(state, found) for state, found in self.states.items() if found)
        return f"{counts}\n{details}"

    def failing(self):
        """The states with at least one violation."""
        return [state for state, found in self.states.items() if found]
