"""First accessibility fixes (issue 14's list; the axe run in a browser is still to come): a label on the file
picker, no dead Tab stop, colours with enough contrast, a state on the collapse button, a chart that is not a
nest of links."""
import re
from pathlib import Path

from tests import test_review

analysed = test_review.analysed  # the review tests' analysed batch, as a fixture here too
CSS = (Path(__file__).resolve().parent.parent / "static" / "css" / "app.css").read_text()


def _luminance(hex_colour):
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a, b):
    """WCAG 2.1 contrast ratio of two #rrggbb colours."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _rule(selector):
    return re.search(re.escape(selector) + r"\s*\{([^}]*)\}", CSS).group(1)


def test_focus_outline_and_badges_have_enough_contrast():
    for selector in (":focus-visible", ".group-card:focus-visible"):
        outline = re.search(r"outline:\s*\d+px solid (#[0-9a-f]{6})", _rule(selector)).group(1)
        assert contrast(outline, "#ffffff") >= 3 and contrast(outline, "#f6f7f8") >= 3, selector  # SC 1.4.11
    badge = _rule(".badge.plan-pro")
    colour, background = (re.search(rf"{name}:\s*(#[0-9a-f]{{6}})", badge).group(1) for name in ("color", "background"))
    assert contrast(colour, background) >= 4.5  # SC 1.4.3, small text


def test_tier_stripes_and_chart_bars_stand_out_three_to_one():
    """SC 1.4.11: the stripe that marks a card's tier and the histogram's bars, on the card and on the page."""
    selectors = (".group-card", ".group-card.tier-exact", ".group-card.tier-near", ".histogram rect",
                 ".histogram rect.low")
    colours = [re.search(r"(#[0-9a-f]{6})", _rule(selector)).group(1) for selector in selectors]
    assert all(contrast(c, "#ffffff") >= 3 and contrast(c, "#f6f7f8") >= 3 for c in colours), colours


def test_the_file_picker_is_labelled_and_the_drop_zone_is_no_dead_tab_stop(client, analysed):
    batch, _archive, _ids = analysed
    page = client.get(f"/batches/{batch}/upload").data.decode()
    assert '<label for="file-input">' in page and 'id="file-input"' in page
    assert not re.search(r'id="dropzone"[^>]*tabindex', page)


def test_collapse_says_its_state_and_the_histogram_links_live_outside_the_picture(client, analysed):
    batch, _archive, ids = analysed
    key = "-".join(str(ids[n]) for n in sorted(test_review.GROUP, key=lambda n: ids[n]))
    card = client.get(f"/batches/{batch}/similarity/group/{key}").data.decode()
    assert 'aria-expanded="true"' in card and f'aria-controls="detail-{key}"' in card and f'id="detail-{key}"' in card
    items = client.get(f"/batches/{batch}/items").data.decode()
    chart = items[items.index("<svg"):items.index("</svg>")]
    assert 'aria-hidden="true"' in chart and 'role="img"' not in chart
    assert all('tabindex="-1"' in link for link in re.findall(r"<a [^>]*>", chart))
    assert items.count('class="histogram-bins') == 1 and "items with uniqueness 0.0–0.1" in items


def test_the_members_table_becomes_blocks_on_a_phone(client, analysed):
    _batch, archive, _ids = analysed
    page = client.get(f"/archives/{archive}").data.decode()
    table = page[page.index('<table class="table stack members">'):]
    table = table[:table.index("</table>")]
    assert 'data-label="E-mail"' in table and "table.stack tr { display: block" in CSS
