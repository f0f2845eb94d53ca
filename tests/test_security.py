"""Headers and served files: templates without inline code, so a strict Content-Security-Policy can hold."""
import json
import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# duplicates.html is saved and opened from disk, where no CSP applies; it is never shown inline (attachment).
STANDALONE_TEMPLATES = {"similarity/report.html"}


def _templates():
    return sorted(p for p in TEMPLATES.rglob("*.html"))


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_hold_no_inline_code(path):
    text = path.read_text()
    assert not re.search(r"\son[a-z]+\s*=", text, re.IGNORECASE), "inline event handler"
    assert "hx-on" not in text and "hx-vars" not in text and "javascript:" not in text.lower()
    assert not re.search(r"hx-vals\s*=\s*['\"]\s*js:", text), "hx-vals evaluated as code"
    for attributes, body in re.findall(r"<script\b([^>]*)>(.*?)</script>", text, re.DOTALL | re.IGNORECASE):
        assert "src=" in attributes and not body.strip(), "inline <script>"
    if str(path.relative_to(TEMPLATES)) not in STANDALONE_TEMPLATES:
        assert not re.search(r"<style\b|\sstyle\s*=", text, re.IGNORECASE), "inline style: style-src is 'self' only"


def test_htmx_is_configured_to_need_no_eval_and_no_inline_style():
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", (TEMPLATES / "base.html").read_text())
    config = json.loads(meta.group(1))
    assert config["allowEval"] is False and config["allowScriptTags"] is False
    assert config["includeIndicatorStyles"] is False and "style" not in config["attributesToSettle"]
