"""docs/benchmarks.md is shared by several benchmark scripts: each owns one section between
`<!-- begin NAME -->` and `<!-- end NAME -->` and rewrites only that, leaving the others as they are."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS_MD = os.path.join(ROOT, "docs", "benchmarks.md")
TITLE = "# Benchmarks\n\nEach section below is written by the script it names; rerun that script to refresh it.\n"


def replace_section(name, markdown, path=BENCHMARKS_MD):
    """Replaces (or appends) section `name` of `path` with `markdown`."""
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    text = open(path).read() if os.path.exists(path) else TITLE
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)
