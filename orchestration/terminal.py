"""What ``recon`` shows a person: rich tables on stdout, a spinner on stderr.

Output is read by people at a terminal and by scripts, logs and tests that capture it, so
both consoles decide from the stream itself, not from the environment alone:

* stdout: a terminal gets rich's colours and its width (columns fold, never truncate);
  anything else (a pipe, a file, pytest's capture) gets no escape codes and a width no
  table reaches, so every cell stays on its row and every value can be grepped whole.
  ``FORCE_COLOR`` does not put escape codes into a pipe.
* stderr: the spinner of a long step is drawn only when stderr is a terminal, and is
  erased when the step ends, so what a log or a test captures is unchanged. While it
  spins, what the step writes to stderr (and to stdout, when that is the same terminal)
  is printed above it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

from rich import box
from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.padding import Padding
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from orchestration.actions.core import spelled_out

# Wider than any table recon prints: off a terminal, a row is never folded into two lines.
CAPTURED_WIDTH = 100_000
UNBOUNDED_WIDTH = CAPTURED_WIDTH  # what a table may take to measure its natural width
NUMBER = re.compile(r"^-?\d[\d,]*(\.\d+)?%?$")


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or already closed
        return False


def stdout_console() -> Console:
    """A console on the current sys.stdout (tests replace it): colour and width only on a terminal."""
    stream = sys.stdout
    if _is_terminal(stream):
        return Console(file=stream, markup=False, highlight=False, emoji=False)
    return Console(
        file=stream,
        force_terminal=False,
        color_system=None,
        width=CAPTURED_WIDTH,
        markup=False,
        highlight=False,
        emoji=False,
    )


def one_line(text: str) -> str:
    """Data is shown, never obeyed: an escape or other control character in a value would
    drive the terminal (colours, cursor moves), and a line feed would print the rest of a
    value as lines of its own (a comment writing a history entry nobody made), so each is
    spelled out: ``\\x1b``, ``\\x0a``. So are the characters a reader cannot see or that
    reorder what they see (a zero-width space, a bidirectional override: ``\\u200b``), the
    ones an operator may no longer type (orchestration/actions/core.py): a log written
    before keeps them, and shows them."""
    return spelled_out(text)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, int):  # bool too, as before: True shows as 1
        return f"{value:,}"
    return one_line(str(value))


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, indent: int = 0, rule: bool = True):
    """A rich table of ``rows``: integers with thousands separators, numeric columns right-aligned.

    ``rule`` draws a line under the header on a terminal. Piped or captured, the table is
    the header line and then one line per row, always: scripts read row N on line N + 1
    (``tail -n +2``). Cells are plain text (a ``[`` in data is never markup), and are never
    cut or folded: :func:`show` gives a table the width it needs.
    """
    cells = [[_cell(v) for v in row] for row in rows]
    ruled = rule and _is_terminal(sys.stdout)
    grid = Table(
        box=box.SIMPLE_HEAD if ruled else None,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0) if ruled else (0, 1),  # two spaces between columns either way, as before
        header_style="bold",
    )
    for i, header in enumerate(headers):
        column = [row[i] for row in cells if row[i]]
        numeric = bool(column) and all(NUMBER.match(v) for v in column)
        grid.add_column(Text(header), justify="right" if numeric else "left", no_wrap=True)
    for row in cells:
        grid.add_row(*(Text(v) for v in row))
    return Padding(grid, (0, 0, 0, indent), expand=False) if indent else grid


def show(blocks: Iterable[str | RenderableType]) -> None:
    """Print to stdout: strings as they are (no wrapping, no markup), tables through rich.

    A table wider than the terminal is printed at the width it needs, and the terminal
    wraps its lines, as plain text would: an id an operator copies is never cut in two,
    and no column is dropped to fit.
    """
    console = stdout_console()
    for block in blocks:
        if isinstance(block, str):
            console.out(block, highlight=False)
            continue
        width = console.width
        needed = Measurement.get(console, console.options.update(width=UNBOUNDED_WIDTH), block).maximum
        console.width = max(width, needed)
        try:
            console.print(block)
        finally:
            console.width = width


@contextmanager
def working(step: str) -> Iterator[None]:
    """A spinner with ``step`` and the elapsed time on stderr while a long step runs.

    Drawn only when stderr is a terminal, and erased at the end. The steps it wraps report
    no progress of their own, so it shows that work goes on, not how much is left.
    """
    if not (_is_terminal(sys.stderr) and Console(stderr=True).is_terminal):
        yield
        return
    sys.stderr.flush()
    screen = os.fdopen(os.dup(sys.stderr.fileno()), "w", encoding="utf-8", errors="replace")
    console = Console(file=screen, markup=False, highlight=False, emoji=False)
    spinner = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    try:
        with spinner:
            spinner.add_task(step, total=None)
            streams = [sys.stderr] + ([sys.stdout] if _same_terminal(sys.stdout, sys.stderr) else [])
            with contextlib.ExitStack() as stack:
                for stream in streams:
                    stack.enter_context(_above(console, stream))
                yield
    finally:
        screen.close()


def _same_terminal(one: TextIO, other: TextIO) -> bool:
    try:
        return _is_terminal(one) and os.path.samestat(os.fstat(one.fileno()), os.fstat(other.fileno()))
    except (AttributeError, ValueError, OSError):
        return False


@contextmanager
def _above(console: Console, stream: TextIO) -> Iterator[None]:
    """Print what is written to ``stream``'s file descriptor above the spinner instead of through it.

    At the descriptor, not the Python object, because Dagster captures a step's output
    the same way (dup2 onto a compute-log file, with ``tail`` mirroring it back to what
    the descriptor was): the compute logs still get everything the step wrote, the
    mirror comes here, and the spinner itself never reaches a log.
    """
    stream.flush()
    fd = stream.fileno()
    saved = os.dup(fd)
    read_end, write_end = os.pipe()
    os.dup2(write_end, fd)
    os.close(write_end)
    reader = threading.Thread(target=_print_lines, args=(read_end, console), daemon=True)
    reader.start()
    try:
        yield
    finally:
        stream.flush()
        os.dup2(saved, fd)  # closes our last write end; a child still holding one keeps the reader going
        os.close(saved)
        reader.join(timeout=5)


def _print_lines(read_end: int, console: Console) -> None:
    pending = b""
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                _print_line(console, line)
        if pending:
            _print_line(console, pending)


def _print_line(console: Console, line: bytes) -> None:
    try:
        console.print(Text.from_ansi(line.decode("utf-8", errors="replace")), soft_wrap=True)
    except Exception:  # the terminal went away: keep draining, so no writer blocks on a full pipe
        pass
