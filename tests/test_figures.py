"""README.md's performance figures are backed by results files in docs/results/.

The rule, for the section "How good, how fast" of README.md, split into its bullets (a bullet
runs from its ``- `` to the next one; the text before the first bullet is one more):

- A *figure* is a number written with a decimal point (``29.59``, ``+7.5``, ``0.84``).
  Integers are counts and settings (cores, images, seconds of budget, pixels) and are not
  checked.
- Every figure must be supported by a file under ``docs/results/`` that **the same bullet links
  to**: the file holds a number ``v`` that rounds to the figure at the figure's number of
  decimals (``|v − F| ≤`` half a unit of ``F``'s last digit; signs are ignored, since the text
  says "below" / "above"). For a figure followed by ``%`` (alone or closing a range such as
  ``0.6–5.0 %``), ``100·v`` may round to it instead, since results files store fractions.

A figure that needs a computation (a mean over images, a difference) is supported once the
computation's output is committed as a results file (``benchmarks/run.py --report ...
--versus ...`` writes the tables the README quotes).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTION = "How good, how fast"
LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
# a decimal figure; the lookahead sees an optional range partner and then a "%" sign
FIGURE = re.compile(r"(?<![\d.])(\d+\.(\d+))(?=(?:\s*[–-]\s*\d+(?:\.\d+)?)?\s*(%)?)")
NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def section(markdown: str, title: str) -> str:
    """The text of the ``## `` section whose heading starts with ``title`` (heading excluded)."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"## {title}"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))
    return "\n".join(lines[start + 1:end])


def bullets(text: str) -> list[str]:
    """The section's bullets (and the paragraph before the first one), each as one string."""
    items: list[str] = [""]
    for line in text.splitlines():
        if line.startswith("- "):
            items.append("")
        items[-1] += " " + line.strip()
    return [item.strip() for item in items if item.strip()]


def figures(bullet: str) -> list[tuple[str, float, int, bool]]:
    """``(as written, value, decimals, is a percentage)`` of each figure; link targets are
    dropped first, so dates in file names are not figures."""
    prose = LINK.sub(lambda m: m.group(1), bullet)
    return [(m.group(1), float(m.group(1)), len(m.group(2)), m.group(3) == "%")
            for m in FIGURE.finditer(prose)]


def results_links(bullet: str, base: Path) -> list[Path]:
    """The files under ``base``/docs/results/ that the bullet links to."""
    paths = [(base / m.group(2).split("#")[0]).resolve() for m in LINK.finditer(bullet)]
    results = (base / "docs" / "results").resolve()
    return [p for p in paths if p.parent == results]


def supported(value: float, decimals: int, percent: bool, numbers: list[float]) -> bool:
    """Whether some number (or, for a percentage, 100 times it) rounds to the figure."""
    half = 0.5 * 10.0**-decimals + 1e-9
    scales = (1.0, 100.0) if percent else (1.0,)
    return any(abs(abs(v) * s - value) <= half for v in numbers for s in scales)


def unsupported(text: str, base: Path) -> list[str]:
    """One message per figure of ``text`` that its bullet's results files do not hold."""
    problems = []
    for bullet in bullets(text):
        found = figures(bullet)
        if not found:
            continue
        files = results_links(bullet, base)
        numbers = [float(n) for f in files if f.is_file()
                   for n in NUMBER.findall(f.read_text())]
        problems += [f"{path}: linked from the bullet but missing" for path in files
                     if not path.is_file()]
        for written, value, decimals, percent in found:
            if not supported(value, decimals, percent, numbers):
                names = ", ".join(f.name for f in files) or "no docs/results/ file linked"
                problems.append(f"{written!r} ({names}) in: {bullet[:90]}...")
    return problems


def test_every_performance_figure_is_in_a_linked_results_file() -> None:
    text = section((ROOT / "README.md").read_text(), SECTION)
    assert figures(text), "the performance section has no figures: did its heading change?"
    problems = unsupported(text, ROOT)
    assert not problems, "figures not found in the results files their bullet links to:\n" + (
        "\n".join(problems))


def test_the_check_catches_a_figure_no_file_holds(tmp_path: Path) -> None:
    # the README's GUI figure before issue 11: "0.76–0.92×", where the table it came from
    # (docs/benchmarks.md, two runs) said 0.92 and 0.84
    (tmp_path / "docs" / "results").mkdir(parents=True)
    (tmp_path / "docs" / "results" / "gui.md").write_text(
        "| 1 | 9.99 | 9.20 | 0.92 | 0.272 | 46.3 |\n| 2 | 12.98 | 10.92 | 0.84 | 0.178 | 47.2 |\n")
    text = "- widget speed 0.76–0.92× the core's ([results](docs/results/gui.md))"
    assert [p.split()[0] for p in unsupported(text, tmp_path)] == ["'0.76'"]
    fixed = "- widget speed 0.84–0.92× the core's ([results](docs/results/gui.md))"
    assert unsupported(fixed, tmp_path) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("- 29.59 dB, no link", ["'29.59'"]),                       # a figure needs a file
    ("- 7 of 10 pairs, 120 s, 2048² pixels", []),               # integers are not figures
])
def test_the_check_rules(text: str, expected: list[str]) -> None:
    assert [p.split()[0] for p in unsupported(text, ROOT)] == expected


def test_percentages_and_rounding() -> None:
    assert figures("within 0.6–5.0 % and 11.5 %") == [
        ("0.6", 0.6, 1, True), ("5.0", 5.0, 1, True), ("11.5", 11.5, 1, True)]
    assert supported(5.0, 1, True, [0.0498])        # a fraction in the file
    assert not supported(5.0, 1, False, [0.0498])
    assert supported(7.5, 1, False, [7.53]) and not supported(7.5, 1, False, [7.56])
    assert supported(2.1, 1, False, [-2.06])        # "2.1 dB below"
