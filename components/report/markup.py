"""HTML building blocks of the report: escaped tags, number formats, tables and inline SVG.

Every value is escaped unless it was built here: :func:`tag` escapes each child and
attribute that is not already :class:`Safe`, so a feature named ``<script>`` is text.
"""
from __future__ import annotations

import html
from typing import Iterable, List, Optional, Sequence, Tuple, Union

class Safe(str):
    """A string of HTML built by this module; everything else gets escaped."""


Child = Union[str, "Safe", int, float, None, Sequence]


def esc(value: Child) -> Safe:
    if value is None:
        return Safe("")
    if isinstance(value, Safe):
        return value
    if isinstance(value, (list, tuple)):
        return Safe("".join(esc(v) for v in value))
    return Safe(html.escape(str(value), quote=True))


def tag(name: str, *children: Child, **attrs: Optional[Union[str, int, float]]) -> Safe:
    """``<name attrs>children</name>``; ``class_`` stands for ``class``, ``_`` for ``-``."""
    text = "".join(f' {k.rstrip("_").replace("_", "-")}="{esc(v)}"'
                   for k, v in attrs.items() if v is not None)
    return Safe(f"<{name}{text}>{esc(list(children))}</{name}>")


def fmt(value: Optional[float], digits: int = 3) -> str:
    # NaN: TFMA's value for a ratio with nothing to count (e.g. no positive predicted).
    return "–" if value is None or value != value else f"{value:.{digits}f}"


def count(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:,.0f}"


def signed(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:+.3f}"


def table(head: Sequence[Child], rows: Iterable[Tuple[Sequence[Child], Optional[str]]],
          class_: str = "") -> Safe:
    """A table; each row is (cells, row class)."""
    return tag("table", tag("thead", tag("tr", [tag("th", h) for h in head])),
               tag("tbody", [tag("tr", [tag("td", c) for c in cells], class_=cls)
                             for cells, cls in rows]), class_=class_ or None)


def badge(text: str, kind: str) -> Safe:
    return tag("span", text, class_=f"badge {kind}")


# ----------------------------------------------------------------------------- plots (inline SVG)

def bars_svg(bars: List[Tuple[str, float]], label: str, width: int = 220, height: int = 44) -> Safe:
    """A small bar chart; each bar's value and label show as a tooltip and in the aria label."""
    if not bars:
        return Safe("")
    top = max(v for _, v in bars) or 1
    step = width / len(bars)
    rects = []
    for i, (name, value) in enumerate(bars):
        h = max(1.0, (height - 2) * value / top) if value else 0.0
        rects.append(tag("rect", tag("title", f"{name}: {count(value)}"),
                         x=f"{i * step + 1:.1f}", y=f"{height - h:.1f}",
                         width=f"{max(step - 2, 1):.1f}", height=f"{h:.1f}"))
    summary = "; ".join(f"{n}: {count(v)}" for n, v in bars)
    return tag("svg", rects, class_="bars", width=width, height=height,
               viewBox=f"0 0 {width} {height}", role="img",
               aria_label=f"{label}: {summary}", xmlns="http://www.w3.org/2000/svg")


def scatter_svg(pairs: List[Tuple[float, float]], width: int = 420, height: int = 320,
                pad: int = 44) -> Safe:
    """Predicted (y) against actual (x) as dots, on one scale with the diagonal where a
    perfect prediction would lie."""
    values = [v for pair in pairs for v in pair]
    low, high = min(values), max(values)
    span = (high - low) or 1.0

    def x(v: float) -> float:
        return pad + (v - low) / span * (width - 2 * pad)

    def y(v: float) -> float:
        return height - pad - (v - low) / span * (height - 2 * pad)

    dots = [tag("circle", tag("title", f"actual {_num(a)}, predicted {_num(p)}"),
                cx=f"{x(a):.1f}", cy=f"{y(p):.1f}", r="2.5") for a, p in pairs]
    axes = [tag("line", x1=pad, y1=height - pad, x2=width - pad, y2=height - pad, class_="axis"),
            tag("line", x1=pad, y1=pad, x2=pad, y2=height - pad, class_="axis"),
            tag("line", x1=f"{x(low):.1f}", y1=f"{y(low):.1f}", x2=f"{x(high):.1f}",
                y2=f"{y(high):.1f}", class_="diagonal"),
            tag("text", _num(low), x=pad, y=height - pad + 16),
            tag("text", _num(high), x=width - pad, y=height - pad + 16, text_anchor="end"),
            tag("text", "actual", x=width / 2, y=height - 8, text_anchor="middle"),
            tag("text", _num(high), x=pad - 4, y=pad + 4, text_anchor="end"),
            tag("text", "predicted", x=12, y=height / 2, text_anchor="middle",
                transform=f"rotate(-90 12 {height / 2})")]
    return tag("svg", axes, dots, class_="scatter", width=width, height=height,
               viewBox=f"0 0 {width} {height}", role="img",
               aria_label=f"predicted against actual for {len(pairs)} eval examples, "
                          f"from {_num(low)} to {_num(high)}",
               xmlns="http://www.w3.org/2000/svg")


def _num(value: float) -> str:
    return f"{value:.4g}"
