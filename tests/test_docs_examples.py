"""Every Python example in ``docs/*.md`` runs.

Each fenced ``python`` block is executed on its own, in a fresh namespace,
as a reader would paste it. Blocks that are whole Trio programs end with
``trio.run(main)``; they run under a ``MockClock`` with autojump, so their
sleeps cost no real time. A block is skipped when it uses ``await`` without
being such a program (a fragment), or when the line before its fence is
``<!-- skip-test -->``. Programs whose handlers run in worker threads are
marked ``<!-- real-clock -->``: autojump would race the threads.
"""

import re
from pathlib import Path

import pytest
import trio
import trio.testing

DOCS = Path(__file__).resolve().parent.parent / "docs"
SKIP_MARKER = "<!-- skip-test -->"
REAL_CLOCK_MARKER = "<!-- real-clock -->"
_FENCE = re.compile(r"^```python[ \t]*$(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks() -> list[tuple[str, int, str, str | None]]:
    """Each python block of the docs: file name, line, code, why it is skipped."""
    blocks: list[tuple[str, int, str, str | None]] = []
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            code = match.group(1)
            skip = None
            if before.strip() == REAL_CLOCK_MARKER:
                code = "# real clock\n" + code
            elif before.strip() == SKIP_MARKER:
                skip = "marked skip-test"
            elif re.search(r"\bawait\b", code) and "trio.run(" not in code:
                skip = "a fragment that uses await"
            blocks.append((path.name, line, code, skip))
    return blocks


BLOCKS = python_blocks()


def test_the_docs_have_python_examples_to_run() -> None:
    """The extraction finds the examples, so a broken pattern cannot hide them."""
    runnable = [b for b in BLOCKS if b[0] == "events.md" and b[3] is None]
    assert len(runnable) >= 5


@pytest.mark.parametrize(
    ("name", "line", "code", "skip"),
    BLOCKS,
    ids=[f"{name}:{line}" for name, line, _, _ in BLOCKS],
)
def test_a_docs_example_runs(
    name: str,
    line: int,
    code: str,
    skip: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The block executes without raising, in a namespace of its own."""
    if skip is not None:
        pytest.skip(skip)
    real_run = trio.run

    def run_in_virtual_time(*args: object, **kwargs: object) -> object:
        kwargs.setdefault("clock", trio.testing.MockClock(autojump_threshold=0))
        return real_run(*args, **kwargs)  # type: ignore[arg-type]

    if not code.startswith("# real clock"):
        monkeypatch.setattr(trio, "run", run_in_virtual_time)
    compiled = compile(code, f"{DOCS / name}:{line}", "exec")
    exec(compiled, {"__name__": f"docs_example_{line}"})


def test_every_whole_program_in_the_docs_is_run() -> None:
    """Only fragments are skipped: every block with ``trio.run`` executes."""
    programs = [b for b in BLOCKS if "trio.run(" in b[2]]
    assert len(programs) >= 8
    assert all(b[3] is None for b in programs)
