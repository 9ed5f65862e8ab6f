"""The cells of the crash matrix (a point in a job's life x a mode), shared by the DAG file and the tests.

Each cell has its own DAG (``rel_crash_<point>_<mode>``), connection (same id) and emulator, so one cell's
faults and counters never touch another's while their runs overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

POINTS = (
    "before_create",
    "create_applied_response_lost",
    "after_create_before_save",
    "while_waiting",
    "final_poll",
    "execute_complete",
    "results_writing",
)
MODES = ("sync", "deferrable")
#: Points that exist in one mode only (``execute_complete`` runs only after a deferral).
ONLY_MODE = {"execute_complete": "deferrable"}
#: Points where the triggerer, not the task's process, is killed in deferrable mode.
TRIGGERER_POINTS = frozenset({"while_waiting", "final_poll"})
RESULTS_DIR_ENV = "RELIABILITY_CRASH_RESULTS_DIR"
INPUT_URI = "gs://crash-bucket/in/requests.jsonl"
OUTPUT_PREFIX = "gs://crash-bucket/out"
RESULT_KEYS = ("row-0", "row-1", "row-2")


@dataclass(frozen=True)
class Cell:
    point: str
    mode: str

    @property
    def id(self) -> str:
        return f"{self.point}_{self.mode}"

    @property
    def dag_id(self) -> str:
        return f"rel_crash_{self.id}"

    @property
    def conn_id(self) -> str:
        return self.dag_id

    @property
    def vertex(self) -> bool:
        """Results writing reads Vertex AI prediction shards from GCS (a streamed download); the others use
        the Gemini API (whose look-up by key scans the job list)."""
        return self.point == "results_writing"

    @property
    def kills_triggerer(self) -> bool:
        return self.mode == "deferrable" and self.point in TRIGGERER_POINTS


CELLS = tuple(Cell(point, mode) for point in POINTS for mode in MODES if ONLY_MODE.get(point, mode) == mode)
