"""A server-rendered SVG line chart of a rule's watched value over its latest observations.

Plain data in, SVG text out (no JavaScript, no library), like ``web/charts.py``. The values are
exact integers (prices with 8 decimals, balances in base units, seconds of staleness) and stay
integers: each point's height is integer arithmetic on them, so a uint256 is placed as exactly as
a small number. The axis labels show the exact lowest and highest values; the page shows the
same observations in a table. The chart is an image to assistive technology (``role="img"``,
labelled by its ``<title>`` and ``<desc>``).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_INK, _AXIS, _LINE, _BAD = "#14213d", "#5c677d", "#1d4e89", "#b3261e"


@dataclass(frozen=True, slots=True)
class Point:
    block: int | None  # the observed block (None when the node did not answer)
    value: int | None  # the watched value (None when nothing was read)
    ok: bool


@dataclass(frozen=True, slots=True)
class Size:
    width: int
    height: int
    left: int = 112  # room for the value labels (at most 15 characters)
    right: int = 12
    top: int = 16
    bottom: int = 40  # room for the block labels and the axis name


SMALL = Size(360, 140)
LARGE = Size(720, 280)


def _axis_label(value: int, *, x: int, y: int) -> str:
    """An axis label: the integer grouped, a very long one cut in the middle (``115,792…639,935``)
    with the whole exact number in its ``<title>`` (and in the chart's description and the table)."""
    text = f"{value:,}"
    shown = text if len(text) <= 15 else f"{text[:7]}…{text[-7:]}"
    return (
        f'<text x="{x}" y="{y}" text-anchor="end" font-size="11" fill="{_INK}"><title>{text}</title>'
        f"{escape(shown)}</text>"
    )


def _caption(text: str, size: Size) -> str:
    """The axis name under the chart, centred on the whole width; a name too long for it is fitted
    (``textLength``) rather than cut at the edge."""
    fit = size.width - 8
    squeeze = f' textLength="{fit}" lengthAdjust="spacingAndGlyphs"' if len(text) * 6 > fit else ""
    return (
        f'<text x="{size.width // 2}" y="{size.height - 4}" text-anchor="middle" font-size="11"{squeeze} '
        f'fill="{_INK}">{escape(text)}</text>'
    )


def line_chart_svg(
    points: Sequence[Point], *, chart_id: str, title: str, description: str, value_label: str, size: Size = SMALL
) -> SafeString:
    """An accessible SVG line chart of ``points`` (oldest first), or an empty string when no point has a value.

    Failing observations are drawn as red squares, healthy ones as blue dots; a point without a
    value breaks the line. ``chart_id`` makes the ids of ``<title>`` and ``<desc>`` unique on the page.
    """
    valued = [p.value for p in points if p.value is not None]
    if not valued:
        return mark_safe("")
    low, high = min(valued), max(valued)
    span = (high - low) or 1
    plot_w, plot_h = size.width - size.left - size.right, size.height - size.top - size.bottom
    step = plot_w // max(len(points) - 1, 1)
    x0 = size.left + (plot_w - step * (len(points) - 1)) // 2 if len(points) > 1 else size.left + plot_w // 2
    base = size.top + plot_h
    ident = escape(chart_id)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size.width} {size.height}" role="img" class="chart" '
        f'aria-labelledby="{ident}-title {ident}-desc" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
        f'<line x1="{size.left}" y1="{base}" x2="{size.width - size.right}" y2="{base}" stroke="{_AXIS}"/>',
        f'<line x1="{size.left}" y1="{size.top}" x2="{size.left}" y2="{base}" stroke="{_AXIS}"/>',
        _axis_label(high, x=size.left - 4, y=size.top + 4),
        _axis_label(low, x=size.left - 4, y=base),
        _caption(f"{value_label} by block", size),
    ]
    blocks = [p.block for p in points if p.block is not None]
    if blocks:
        parts += [
            f'<text x="{size.left}" y="{base + 14}" text-anchor="start" font-size="10" fill="{_INK}">'
            f"block {min(blocks)}</text>",
            f'<text x="{size.width - size.right}" y="{base + 14}" text-anchor="end" font-size="10" fill="{_INK}">'
            f"block {max(blocks)}</text>",
        ]
    segment: list[str] = []
    marks: list[str] = []
    for i, point in enumerate(points):
        x = x0 + i * step
        if point.value is None:
            if len(segment) > 1:
                parts.append(_polyline(segment))
            segment = []
            marks.append(
                f'<line x1="{x}" y1="{size.top}" x2="{x}" y2="{base}" stroke="{_BAD}" stroke-dasharray="3 3"/>'
            )
            continue
        y = base - (point.value - low) * plot_h // span
        segment.append(f"{x},{y}")
        if point.ok:
            marks.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{_LINE}"/>')
        else:
            marks.append(f'<rect x="{x - 4}" y="{y - 4}" width="8" height="8" fill="{_BAD}"/>')
    if len(segment) > 1:
        parts.append(_polyline(segment))
    parts += marks
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every text above is escaped; coordinates are ints)


def _polyline(points: list[str]) -> str:
    return f'<polyline points="{" ".join(points)}" fill="none" stroke="{_LINE}" stroke-width="2"/>'


def parse_value(text: str) -> int | None:
    """An observation's ``value`` (a decimal integer string) as an int, or ``None`` when empty or not one."""
    text = (text or "").strip()
    if not text or len(text) > 80:
        return None
    try:
        return int(text)
    except ValueError:
        return None
