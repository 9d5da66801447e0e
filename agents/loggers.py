"""Metric loggers: wandb (offline by default, online on request) with a CSV fallback."""
from __future__ import annotations

import csv
import os
from pathlib import Path

__all__ = ["CsvLogger", "WandbLogger", "make_logger"]


class CsvLogger:
    """Appends one row per ``log`` call to ``<run_dir>/metrics.csv`` (columns grow as needed)."""

    def __init__(self, run_dir) -> None:
        self.path = Path(run_dir) / "metrics.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rows: list[dict] = []
        if self.path.is_file():  # a resumed run keeps the earlier rows
            with self.path.open(newline="") as fh:
                self.rows = list(csv.DictReader(fh))

    def log(self, metrics: dict, *, step: int) -> None:
        self.rows = [r for r in self.rows if int(r["step"]) < step] + [{"step": step, **metrics}]
        keys = sorted({k for r in self.rows for k in r} - {"step"})
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as fh:
            w = csv.DictWriter(fh, ["step", *keys])
            w.writeheader()
            w.writerows(self.rows)
        os.replace(tmp, self.path)

    def log_images(self, images: dict, *, step: int) -> None:
        """PNG files by name: they stay in the run folder (nothing else to do without wandb)."""

    def log_artifact(self, path, *, name: str, kind: str) -> None:
        """A file or folder to keep with the run: it already is in the run folder."""

    def finish(self) -> None:
        pass


class WandbLogger:
    """wandb run under ``<run_dir>/wandb`` (``mode`` offline unless told otherwise), plus the CSV."""

    def __init__(self, run_dir, *, project: str, mode: str = "offline", config: dict | None = None,
                 name: str | None = None) -> None:
        import wandb

        self.csv = CsvLogger(run_dir)
        os.environ.setdefault("WANDB_MODE", mode)
        os.environ.setdefault("WANDB_SILENT", "true")
        self.run = wandb.init(project=project, mode=mode, dir=str(run_dir), config=config,
                              name=name, reinit="finish_previous")

    def log(self, metrics: dict, *, step: int) -> None:
        self.csv.log(metrics, step=step)
        self.run.log(metrics, step=step)

    def log_images(self, images: dict, *, step: int) -> None:
        import wandb

        self.run.log({k: wandb.Image(str(v)) for k, v in images.items()}, step=step)

    def log_artifact(self, path, *, name: str, kind: str) -> None:
        """Logs a checkpoint file or policy folder as a wandb artifact (offline: synced later)."""
        import wandb

        art = wandb.Artifact(name, type=kind)
        path = Path(path)
        if path.is_dir():
            art.add_dir(str(path))
        else:
            art.add_file(str(path))
        self.run.log_artifact(art)

    def finish(self) -> None:
        self.run.finish()


def make_logger(kind: str, run_dir, *, project: str = "heurist", mode: str = "offline",
                config: dict | None = None, console=None):
    """``kind`` ``"wandb"`` or ``"csv"``; wandb falls back to CSV (with a message) if it fails."""
    if kind == "csv":
        return CsvLogger(run_dir)
    if kind != "wandb":
        raise ValueError(f"logger.kind must be 'wandb' or 'csv', got {kind!r}")
    try:
        return WandbLogger(run_dir, project=project, mode=mode, config=config)
    except Exception as exc:  # noqa: BLE001 - wandb is optional: never lose the metrics
        if console is not None:
            console.print(f"[yellow]wandb unavailable ({exc}); logging to CSV only[/yellow]")
        return CsvLogger(run_dir)
