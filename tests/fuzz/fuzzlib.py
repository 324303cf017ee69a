"""What every fuzz harness shares: the settings (short and seeded in the normal test run, long
under ``make fuzz``), the mutations of valid samples, the hang guard, and the property that every
finding serialises in every format.

The property of every harness: any input gives either events/findings that every format of
:data:`memwarden.outputs.formats.FORMATS` writes, or a located error; never an uncaught
exception, a hang (more than :data:`HANG_S` of CPU for one small input) or a finding that
cannot be written.

``MEMWARDEN_FUZZ_EXAMPLES=N`` (``make fuzz``) runs N examples per harness, randomised, and
prints how many ran; without it each harness runs :data:`CI_EXAMPLES`, derandomized.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from memwarden.core.event import Finding
from memwarden.outputs.formats import FORMATS

DATA = Path(__file__).resolve().parent.parent / "data"
CI_EXAMPLES = 30
HANG_S = 2.0
LONG = int(os.environ.get("MEMWARDEN_FUZZ_EXAMPLES", "0") or 0)

#: the settings of every harness: derandomized and short unless ``make fuzz`` asked for more
FUZZ = settings(
    max_examples=LONG or CI_EXAMPLES,
    derandomize=not LONG,
    deadline=None,  # the hang guard measures CPU time instead: the machine may be loaded
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),  # no slow "explain"
)


class Hang(Exception):
    """One input took more than HANG_S seconds of CPU."""


@contextlib.contextmanager
def hang_guard(seconds: float = HANG_S) -> Iterator[None]:
    """Raise :class:`Hang` (with the traceback of where it spun) after ``seconds`` of CPU."""
    def on_alarm(signum: int, frame: Any) -> None:
        raise Hang(f"more than {seconds} s of CPU for one input")

    old = signal.signal(signal.SIGPROF, on_alarm)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


#: Bugs a harness found that are known and not fixed yet: (harness, exception type name, a text
#: in its message) -> the report. An input that raises one is counted (and listed by ``make
#: fuzz``), not failed on; anything else fails. Empty: the two found so far (a control character
#: in an allowlist escaping as yaml's ReaderError; nested macros expanding exponentially) are
#: fixed, and their harnesses now fail on them.
KNOWN: dict[tuple[str, str, str], str] = {}


class Counter:
    """Counts the inputs a harness ran (reported by ``make fuzz``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.inputs = 0
        self.errors = 0
        self.findings = 0
        self.known: dict[str, int] = {}

    def tolerate(self, exc: BaseException) -> bool:
        """Whether ``exc`` is a KNOWN bug of another area (then counted)."""
        for (harness, type_name, text), report in KNOWN.items():
            if harness == self.name and type(exc).__name__ == type_name and text in str(exc):
                self.known[report] = self.known.get(report, 0) + 1
                return True
        return False

    def report(self) -> None:
        if LONG:
            known = "".join(f"; KNOWN x{n}: {r}" for r, n in self.known.items())
            line = (f"fuzz {self.name}: {self.inputs} inputs, {self.errors} located errors, "
                    f"{self.findings} findings written in {len(FORMATS)} formats{known}")
            print(line)
            out = os.environ.get("MEMWARDEN_FUZZ_REPORT")
            if out:
                with open(out, "a") as fh:
                    fh.write(line + "\n")


def write_everywhere(finding: Finding) -> None:
    """The property's last part: every format writes the finding (a failure is a bug)."""
    for fmt in FORMATS.values():
        out = fmt.render(finding)
        assert isinstance(out, bytes) and out.endswith(b"\n"), fmt.name


# -- mutations --------------------------------------------------------------------------------
# Hypothesis draws a seed per example (printed with a failing example, with the input itself
# as a note) for a ``random.Random``; the mutations below are plain Python on it, so one
# example runs BATCH inputs at the speed of the parser, not of the generator (``st.randoms``
# records every call as a choice and runs out of its per-example budget on inputs this big).

#: parser inputs per example (lines, records, files)
BATCH = int(os.environ.get("MEMWARDEN_FUZZ_BATCH", "0") or 0) or (40 if LONG else 3)
seeds = st.integers(0, (1 << 64) - 1).map(random.Random)

HUGE_INTS = (1 << 64, (1 << 64) - 1, 1 << 63, -(1 << 63) - 1, -(1 << 63), 10 ** 30, -1, 0,
             (1 << 32), (1 << 32) - 1, 10 ** 308)
CONTROL = "".join(map(chr, range(32))) + "\x7f\u2028\u2029\ud800\ufffe\U0010ffff"
STRINGS = ("", "abc", "x", "0x10", "-1", "1e308", "SIGKILL", "O_RDONLY", "/proc/kcore",
           "2024-05-01T12:00:00.123456789Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
           "-0001-01-01T00:00:00Z", "\x00", "\u202e", "%s%n", "a" * 5000)
FLOATS = (1e308, -1e308, 0.5, float("nan"), float("inf"), -0.0, 1.8446744073709552e19)


def random_json(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON-ish value: scalars of every type, huge ints, control characters, containers."""
    k = rng.randrange(12 if depth < 3 else 8)
    if k == 0:
        return None
    if k == 1:
        return rng.random() < 0.5
    if k == 2:
        return rng.choice(HUGE_INTS)
    if k == 3:
        return rng.randint(-(1 << 70), 1 << 70) if rng.random() < 0.3 else rng.randint(-9, 9999)
    if k == 4:
        return rng.choice(FLOATS)
    if k == 5:
        return rng.choice(STRINGS)
    if k in (6, 7):
        return "".join(rng.choice(CONTROL + "az/.:-") for _ in range(rng.randrange(8)))
    if k in (8, 9):
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(("name", "value", "id", "path", "x", "", "\x00"))
            : random_json(rng, depth + 1) for _ in range(rng.randrange(4))}


def nested(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = [leaf] if depth % 2 else {"a": leaf}
    return leaf


def mutate(rng: random.Random, value: Any, depth: int = 0) -> Any:
    """``value`` with zero or more of: a type swap, a huge int, deep nesting, a dropped or
    added key, control characters in strings, recursively (mostly deep, into the fields)."""
    op = rng.randrange(12)
    if op == 0 or depth > 7:
        return value
    if op == 1:
        return random_json(rng)
    if op == 2:
        return rng.choice(HUGE_INTS)
    if op == 3 and depth < 3:
        return nested(rng.choice((2, 60, 1100)), value)
    if isinstance(value, dict) and value:
        out = dict(value)
        keys = list(out)
        for _ in range(rng.randrange(1, 4)):
            key = rng.choice(keys)
            what = rng.randrange(7)
            if what == 0:
                out.pop(key, None)
            elif what == 1:
                out[rng.choice(STRINGS[:4])] = random_json(rng)
            else:
                out[key] = mutate(rng, out.get(key), depth + 1)
        return out
    if isinstance(value, list) and value:
        out_list = list(value)
        i = rng.randrange(len(out_list))
        what = rng.randrange(4)
        if what == 0:
            del out_list[i]
        elif what == 1:
            out_list.insert(i, random_json(rng))
        else:
            out_list[i] = mutate(rng, out_list[i], depth + 1)
        return out_list
    if isinstance(value, str):
        i = rng.randrange(len(value) + 1)
        return value[:i] + "".join(rng.choice(CONTROL) for _ in range(rng.randrange(1, 3))) \
            + value[i:]
    if isinstance(value, bool):
        return rng.choice((not value, 1, "true", None))
    if isinstance(value, int):
        return rng.choice((*HUGE_INTS, str(value), float(value), [value], -value))
    return random_json(rng)


def to_json_line(value: Any) -> bytes:
    """JSON text of any value (huge ints, NaN and lone surrogates included)."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (RecursionError, ValueError):
        text = "[" * 2000
    return text.encode("utf-8", "surrogatepass")


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """Byte-level damage, sometimes: truncation, a flipped or inserted byte, control bytes."""
    op = rng.randrange(8)
    if op > 3 or not data:
        return data
    i = rng.randrange(len(data))
    if op == 0:
        return data[:i]
    if op == 1:
        return data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1:]
    if op == 2:
        return data[:i] + rng.randbytes(rng.randrange(1, 5)) + data[i:]
    return data[:i] + rng.choice((b"\x00", b"\r", b"\x1b[2J", b"\xff\xfe", b"\n")) + data[i:]


def jsonl_samples(*patterns: str) -> list[Any]:
    out: list[Any] = []
    for pattern in patterns:
        for path in sorted(DATA.glob(pattern)):
            for line in path.read_text().splitlines():
                if line.strip():
                    with contextlib.suppress(ValueError):
                        out.append(json.loads(line))
    return out


def run_counted(counter: Counter, body: Callable[[], None], inputs: int = 1,
                shown: Any = None) -> None:
    """Run one example (``inputs`` parser inputs: lines, records, files) under the hang
    guard; a KNOWN bug of another area is counted instead of failing. ``shown``: the input,
    added to a failure's report."""
    counter.inputs += inputs
    try:
        with hang_guard():
            body()
    except Exception as exc:
        if not counter.tolerate(exc):
            if shown is not None:
                exc.add_note(f"input: {shown!r:.4000}")
            raise
