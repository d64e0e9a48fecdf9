"""Coverage-guided fuzzing of the gateway's JT/T 808 path with atheris (libFuzzer for Python).

    make fuzz-atheris            # installs atheris into the venv, 10^6 runs
    python tests/fuzz/atheris_jt808.py -runs=100000

Every input is fed to a fresh TerminalSession (authenticated half the time), in one read and a byte
at a time; anything raised out of ``feed`` is a crash, and every dead letter must carry a reason.
Not collected by pytest (no test_ prefix): the mutation fuzzer in tests/faults is the suite's run.
"""

import sys
from datetime import UTC, datetime

import atheris

with atheris.instrument_imports():
    from wastestream.producers.gateway import TerminalDirectory, TerminalSession
    from wastestream.producers.jt808.fuzz import seeds
    from wastestream.schemas import Vehicle

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
VEHICLE = Vehicle(
    id="VF1", plate="沪A12345", contractor_id="C01", terminal_id="13800138000", rated_load_kg=8000, stored_tare_kg=9000
)
DIRECTORY = TerminalDirectory([VEHICLE], new_code=lambda: "FUZZCODE")
LOGIN = b"".join(seeds("013800138000", "FUZZCODE")[:2])


def one_input(data: bytes) -> None:
    for login in (b"", LOGIN):
        for step in (len(data) or 1, 1):
            session = TerminalSession(DIRECTORY, "atheris")
            if login:
                session.feed(login, NOW, 0.0)
            for i in range(0, len(data), step):
                acts = session.feed(data[i : i + step], NOW, 0.0)
                for d in acts.dead:
                    assert d.reason, d
                if acts.close:
                    break
            for d in session.close(NOW).dead:
                assert d.reason, d


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
