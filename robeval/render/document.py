"""A report as a list of blocks, rendered to Markdown and to one self-contained HTML page.

Blocks: ("h", level, text) | ("p", text) | ("ul", [items]) | ("table", headers, rows) |
("img", path relative to the report folder, caption) | ("pre", text) | ("details", summary, text).
The HTML embeds every image as base64, so the page can be mailed or opened anywhere.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

Block = tuple

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1,h2,h3{line-height:1.2} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:1em 0;font-size:.85em;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;white-space:nowrap}
th{background:#f3f3f3} td.num{text-align:right}
figure{display:inline-block;margin:.5em;vertical-align:top;max-width:48%}
figure img{max-width:100%;border:1px solid #eee} figcaption{font-size:.8em;color:#555}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.8em}
.claim{border-left:4px solid #888;padding:.2em .8em;margin:.8em 0;background:#fafafa}
"""


def _md_cell(x) -> str:
    return str(x).replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind == "h":
            out += ["#" * b[1] + " " + b[2], ""]
        elif kind == "p":
            out += [b[1], ""]
        elif kind == "ul":
            out += [f"- {item}" for item in b[1]] + [""]
        elif kind == "table":
            headers, rows = b[1], b[2]
            out.append("| " + " | ".join(map(_md_cell, headers)) + " |")
            out.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|")
            out += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in rows]
            out.append("")
        elif kind == "img":
            out += [f"![{b[2]}]({b[1]})", ""]
        elif kind == "pre":
            out += ["```", b[1], "```", ""]
        elif kind == "details":
            out += [f"<details><summary>{b[1]}</summary>", "", "```", b[2], "```", "", "</details>", ""]
    return "\n".join(out)


def _img_tag(root: Path, rel: str, caption: str) -> str:
    f = root / rel
    if not f.exists():
        return f"<p><em>missing plot {html.escape(rel)}</em></p>"
    data = base64.b64encode(f.read_bytes()).decode("ascii")
    cap = html.escape(caption)
    return (f'<figure><img alt="{cap}" src="data:image/png;base64,{data}">'
            f"<figcaption>{cap}</figcaption></figure>")


def to_html(blocks: list[Block], root: str | Path, title: str) -> str:
    """One page, no external files: images are embedded from ``root``."""
    root = Path(root)
    e = html.escape
    body: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind == "h":
            body.append(f"<h{b[1]}>{e(b[2])}</h{b[1]}>")
        elif kind == "p":
            cls = ' class="claim"' if b[1].startswith("**Claim") else ""
            body.append(f"<p{cls}>{_inline(b[1])}</p>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{e(str(h))}</th>" for h in b[1])
            rows = "".join("<tr>" + "".join(_td(c) for c in r) + "</tr>" for r in b[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "img":
            body.append(_img_tag(root, b[1], b[2]))
        elif kind == "pre":
            body.append(f"<pre>{e(b[1])}</pre>")
        elif kind == "details":
            body.append(f"<details><summary>{e(b[1])}</summary><pre>{e(b[2])}</pre></details>")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{e(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _td(cell) -> str:
    text = str(cell)
    num = bool(re.match(r"^[+\-]?[0-9.]", text)) or text == "–"
    return f'<td class="num">{html.escape(text)}</td>' if num else f"<td>{html.escape(text)}</td>"


def _inline(text: str) -> str:
    """Escape, then render **bold** and `code` (the only inline Markdown the report uses)."""
    out, parts = [], html.escape(text).split("**")
    for i, part in enumerate(parts):
        segs = part.split("`")
        part = "".join(f"<code>{s}</code>" if j % 2 else s for j, s in enumerate(segs))
        out.append(f"<strong>{part}</strong>" if i % 2 else part)
    return "".join(out)
