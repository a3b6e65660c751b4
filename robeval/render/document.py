"""A report as a list of blocks, rendered to Markdown and to one self-contained HTML page.

Blocks: ("h", level, text) | ("p", text) | ("note", text) (small print) | ("ul", [items]) |
("table", headers, rows) | ("img", path relative to the report folder, caption) |
("figures", [(path, caption), ...]) (a row that wraps) | ("pre", text) |
("details", summary, text) | ("fold", summary, [blocks]) (folded under <details>) |
("row", [blocks]) (side by side where the width allows, e.g. a table and its figure).
A table cell is text, a list of lines, or a ``Cell`` (a number with a smaller second line and a
hover title); numbers are right-aligned. The HTML embeds every image as base64, so the page can be mailed or
opened anywhere; the Markdown twin links the PNG files (GitHub renders it).
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path

Block = tuple

# the page is read at 1,400 px: the body fits it (scrollbar included), tables wrap their text
# cells instead of scrolling sideways, figures keep their natural width and wrap as a row
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1320px;margin:1.2em auto;
padding:0 16px;color:#222;line-height:1.4;box-sizing:border-box;font-size:15px}
h1,h2,h3{line-height:1.2;margin-bottom:.4em} h1{margin:.2em 0 .3em;font-size:1.7em}
h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.2em;font-size:1.35em}
table{border-collapse:collapse;margin:.5em 0 .8em;font-size:.84em;max-width:100%;line-height:1.25}
th,td{border:1px solid #d4d4d4;padding:.2em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3;font-weight:600} th.num{text-align:right}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.lines{min-width:31em}
td small,th small{display:block;color:#666;font-size:.82em;font-weight:normal}
td.v-good{background:#eaf3fb} td.v-bad{background:#fbeee6}
.figs{display:flex;flex-wrap:wrap;gap:14px;margin:.6em 0}
.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start} .row>div{max-width:100%}
figure{margin:0;flex:0 0 auto;max-width:100%}
figure img{display:block;max-width:100%;border:1px solid #eee}
figcaption{font-size:.82em;color:#444;max-width:var(--w,460px);margin-top:.3em}
pre{background:#f7f7f7;padding:.8em;font-size:.78em;white-space:pre-wrap;overflow-wrap:anywhere}
details{margin:.5em 0} summary{cursor:pointer;font-weight:600}
p.note{font-size:.86em;color:#555}
"""


@dataclass(frozen=True)
class Cell:
    """A table cell: ``main`` on the first line, ``sub`` (smaller) on a second, ``title`` on hover;
    ``kind`` adds a CSS class (v-good, v-bad) so a verdict can be tinted as well as worded."""

    main: str
    sub: str = ""
    title: str = ""
    num: bool = True
    kind: str = ""

    def __str__(self) -> str:
        return self.main + (f" {self.sub}" if self.sub else "")


def _md_text(x) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def _md_cell(x) -> str:
    if isinstance(x, list | tuple):
        return "<br>".join(_md_text(i) for i in x)
    if isinstance(x, Cell):
        return _md_text(x.main) + (f"<br><sub>{_md_text(x.sub)}</sub>" if x.sub else "")
    return _md_text(x)


NUMBER = re.compile(r"[+\-−]?[0-9][0-9.,]*(e[+\-]?[0-9]+)?( ?(%|pp|★))?|–")


def _is_num(x) -> bool:
    """A number (or the '–' of a missing one), right-aligned; text and lists of lines are not."""
    if isinstance(x, Cell):
        return x.num
    return not isinstance(x, list | tuple) and bool(NUMBER.fullmatch(str(x).strip()))


def _md_table(headers: list, rows: list[list]) -> list[str]:
    numeric = [bool(rows) and all(_is_num(r[i]) for r in rows) for i in range(len(headers))]
    out = ["| " + " | ".join(map(_md_cell, headers)) + " |",
           "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    return out + ["| " + " | ".join(map(_md_cell, r)) + " |" for r in rows] + [""]


def _md_figure(path: str, caption: str) -> list[str]:
    """The image, then its caption as a paragraph (alt text without the caption's bold marks)."""
    return [f"![{caption.replace('**', '')}]({path})", "", caption, ""]


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind == "h":
            out += ["#" * b[1] + " " + b[2], ""]
        elif kind in ("p", "note"):
            out += [b[1], ""]
        elif kind == "ul":
            out += [f"- {item}" for item in b[1]] + [""]
        elif kind == "table":
            out += _md_table(b[1], b[2])
        elif kind == "img":
            out += _md_figure(b[1], b[2])
        elif kind == "figures":
            for path, caption in b[1]:
                out += _md_figure(path, caption)
        elif kind == "pre":
            out += ["```", b[1], "```", ""]
        elif kind == "details":
            out += [f"<details><summary>{b[1]}</summary>", "", "```", b[2], "```", "", "</details>", ""]
        elif kind == "fold":
            out += [f"<details><summary>{b[1]}</summary>", "", to_markdown(b[2]), "</details>", ""]
        elif kind == "row":
            out.append(to_markdown(b[1]))
    return "\n".join(out)


def _figure(root: Path, rel: str, caption: str) -> str:
    f = root / rel
    if not f.exists():
        return f"<p><em>missing plot {html.escape(rel)}</em></p>"
    data = f.read_bytes()
    width = int.from_bytes(data[16:20], "big") if data[:8] == b"\x89PNG\r\n\x1a\n" else 460
    cap = html.escape(caption.replace("**", ""))
    # the caption wraps at the image's width; the image is never scaled up
    return (f'<figure style="--w:{width}px"><img alt="{cap}" width="{width}" '
            f'src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">'
            f"<figcaption>{_inline(caption)}</figcaption></figure>")


def _td(cell, tag: str = "td") -> str:
    if isinstance(cell, list | tuple):
        return f'<{tag} class="lines">' + "<br>".join(_inline(str(i)) for i in cell) + f"</{tag}>"
    if isinstance(cell, Cell):
        cls = " ".join(c for c in ("num" if cell.num else "", cell.kind) if c)
        attrs = (f' class="{cls}"' if cls else "") + (f' title="{html.escape(cell.title)}"' if cell.title else "")
        sub = f"<small>{_inline(cell.sub)}</small>" if cell.sub else ""
        return f"<{tag}{attrs}>{_inline(cell.main)}{sub}</{tag}>"
    cls = ' class="num"' if _is_num(cell) else ""
    return f"<{tag}{cls}>{_inline(str(cell))}</{tag}>"


def _table(headers: list, rows: list[list]) -> str:
    numeric = [bool(rows) and all(_is_num(r[i]) for r in rows) for i in range(len(headers))]
    head = "".join(_td(h, "th").replace("<th>", '<th class="num">', 1) if n else _td(h, "th")
                   for h, n in zip(headers, numeric, strict=True))
    body = "".join("<tr>" + "".join(_td(c) for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_blocks(blocks: list[Block], root: Path) -> list[str]:
    e = html.escape
    body: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind == "h":
            body.append(f"<h{b[1]}>{_inline(b[2])}</h{b[1]}>")
        elif kind == "p":
            body.append(f"<p>{_inline(b[1])}</p>")
        elif kind == "note":
            body.append(f'<p class="note">{_inline(b[1])}</p>')
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b[1]) + "</ul>")
        elif kind == "table":
            body.append(_table(b[1], b[2]))
        elif kind == "img":
            body.append(f'<div class="figs">{_figure(root, b[1], b[2])}</div>')
        elif kind == "figures":
            body.append('<div class="figs">' + "".join(_figure(root, p, c) for p, c in b[1]) + "</div>")
        elif kind == "pre":
            body.append(f"<pre>{e(b[1])}</pre>")
        elif kind == "details":
            body.append(f"<details><summary>{e(b[1])}</summary><pre>{e(b[2])}</pre></details>")
        elif kind == "fold":
            body.append(f"<details><summary>{_inline(b[1])}</summary>"
                        + "\n".join(_html_blocks(b[2], root)) + "</details>")
        elif kind == "row":
            body.append('<div class="row">' + "".join(f"<div>{h}</div>" for h in _html_blocks(b[1], root))
                        + "</div>")
    return body


def to_html(blocks: list[Block], root: str | Path, title: str) -> str:
    """One page, no external files: images are embedded from ``root``."""
    e = html.escape
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width\">"
            f"<title>{e(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(_html_blocks(blocks, Path(root))) + "\n</body></html>\n")


def _inline(text: str) -> str:
    """Escape, then render **bold** and `code` (the only inline Markdown the report uses)."""
    out, parts = [], html.escape(text).split("**")
    for i, part in enumerate(parts):
        segs = part.split("`")
        part = "".join(f"<code>{s}</code>" if j % 2 else s for j, s in enumerate(segs))
        out.append(f"<strong>{part}</strong>" if i % 2 else part)
    return "".join(out)
