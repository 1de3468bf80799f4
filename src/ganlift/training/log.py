"""The training log: loss terms averaged over a window of steps, a JSONL file and a tqdm bar."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import torch

from ganlift.utils.io import write_text


class TermWindow:
    """Running sums of the loss terms since the last log line.

    Sums stay as detached tensors between log lines, so a GPU step does not wait on ``.item()``.
    """

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, total: torch.Tensor, terms: Mapping[str, Any]) -> None:
        """Add one step's total and named terms (tensors or numbers)."""
        values = {"loss": total, **terms}
        for name, value in values.items():
            v = value.detach().float() if torch.is_tensor(value) else torch.tensor(float(value))
            v = v.reshape(())
            self.sums[name] = self.sums[name] + v if name in self.sums else v
        self.count += 1

    def stacked(self) -> tuple[list[str], torch.Tensor]:
        """Names (sorted, 'loss' first) and their window means as one tensor."""
        names = ["loss"] + sorted(k for k in self.sums if k != "loss")
        means = torch.stack([self.sums[k] for k in names]) / max(self.count, 1)
        return names, means

    def reset(self) -> None:
        self.sums, self.count = {}, 0

    def state_dict(self) -> dict[str, Any]:
        """Plain numbers, so a checkpoint carries a half-full window across a resume."""
        return {"count": self.count, "sums": {k: float(v) for k, v in self.sums.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.count = int(state.get("count", 0))
        self.sums = {k: torch.tensor(float(v)) for k, v in state.get("sums", {}).items()}


class JsonlLog:
    """Append one JSON object per line to ``path`` (rank 0 only writes).

    Each line is written and flushed whole, so a crash loses at most the line in progress.
    """

    def __init__(self, path: str | os.PathLike | None, fresh: bool,
                 resume_step: int | None = None) -> None:
        """Open the log.

        Args:
            path: the JSONL file; None writes nothing.
            fresh: start an empty log (a new run).
            resume_step: when resuming from a checkpoint at this step, drop the records of
                later steps (written before a kill, and about to be written again) and any
                half-written last line.
        """
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if fresh or not self.path.exists():
                self.path.write_text("", encoding="utf-8")
            elif resume_step is not None:
                self.truncate(resume_step)

    def truncate(self, step: int) -> int:
        """Keep only the records up to ``step`` (and drop unreadable lines).

        Returns:
            How many lines were dropped.
        """
        if self.path is None or not self.path.exists():
            return 0
        lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        kept = [line for line in lines if _record_step(line) is not None and _record_step(line) <= step]
        if len(kept) != len(lines):
            write_text(self.path, "".join(line + "\n" for line in kept))
        return len(lines) - len(kept)

    def write(self, record: Mapping[str, Any]) -> None:
        if self.path is None:
            return
        line = json.dumps(dict(record), allow_nan=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()


def _record_step(line: str) -> int | None:
    """The ``step`` of one log line, or None for a line that is not a complete record."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    step = record.get("step") if isinstance(record, dict) else None
    return step if isinstance(step, int) and not isinstance(step, bool) else None


# Short progress-bar labels of the built-in terms (the JSONL log keeps the full names).
_SHORT = {"reconstruction": "rec", "perturbation_a": "pert_a", "perturbation_b": "pert_b",
          "albedo_rank": "rank", "identity": "id", "grad_norm": "|grad|"}


def short_name(name: str) -> str:
    """A compact progress-bar label (``"reconstruction"`` -> ``"rec"``)."""
    return _SHORT.get(name, name)


def format_terms(names: list[str], values: list[float]) -> dict[str, str]:
    """Values with 4 significant digits for ``tqdm.set_postfix``."""
    return {short_name(n): (f"{v:.4g}" if math.isfinite(v) else str(v))
            for n, v in zip(names, values)}
