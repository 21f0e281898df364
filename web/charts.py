"""Server-rendered SVG charts: plain data in, SVG text out (no JavaScript, no library).

A chart is an image to assistive technology (``role="img"`` with a ``<title>`` and ``<desc>``
it is labelled by); the page shows the same numbers in a table beside it. Bar heights are
integer arithmetic on the counts: no floats.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_WIDTH, _HEIGHT = 640, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 12, 24, 56  # margins: the axis labels live in them


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # under the bar, e.g. "1 to 10"
    value: int  # its height, e.g. a number of accounts


def bar_chart_svg(bars: Sequence[Bar], *, chart_id: str, title: str, description: str, axis_label: str) -> SafeString:
    """An accessible SVG bar chart of ``bars`` (non-negative integers), or an empty string when there are none.

    ``chart_id`` makes the ``<title>`` and ``<desc>`` ids unique on the page.
    """
    if not bars:
        return mark_safe("")
    top = max(bar.value for bar in bars) or 1
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    slot = plot_w // len(bars)
    bar_w = max(slot * 3 // 4, 1)
    ident = escape(chart_id)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" class="chart" '
        f'aria-labelledby="{ident}-title {ident}-desc" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
        f'<line x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_WIDTH - _RIGHT}" y2="{_TOP + plot_h}" stroke="#5c677d"/>',
        f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{_TOP + plot_h}" stroke="#5c677d"/>',
        f'<text x="{_LEFT - 6}" y="{_TOP + 4}" text-anchor="end" font-size="11" fill="#14213d">{top:,}</text>',
        f'<text x="{_LEFT - 6}" y="{_TOP + plot_h}" text-anchor="end" font-size="11" fill="#14213d">0</text>',
        f'<text x="{_LEFT + plot_w // 2}" y="{_HEIGHT - 6}" text-anchor="middle" font-size="12" '
        f'fill="#14213d">{escape(axis_label)}</text>',
    ]
    for i, bar in enumerate(bars):
        height = bar.value * plot_h // top
        x = _LEFT + i * slot + (slot - bar_w) // 2
        y = _TOP + plot_h - height
        centre = x + bar_w // 2
        parts += [
            f'<rect x="{x}" y="{y}" width="{bar_w}" height="{height}" fill="#1d4e89"/>',
            f'<text x="{centre}" y="{y - 4}" text-anchor="middle" font-size="11" fill="#14213d">{bar.value:,}</text>',
            f'<text x="{centre}" y="{_TOP + plot_h + 16}" text-anchor="middle" font-size="10" '
            f'fill="#14213d">{escape(bar.label)}</text>',
        ]
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every text above is escaped; the numbers are ints)
