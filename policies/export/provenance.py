"""The data provenance recorded in a manifest: which files a policy was trained and held out on,
and a sha256 over their names and bytes, so a reader can tell whether their copy is the same."""
from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["data_provenance"]


def data_provenance(data_dir, train_names: list[str], test_names: list[str]) -> dict:
    """``{"data_dir", "dataset", "train_files", "test_files", "sha256"}`` of the trace files
    ``train_names`` + ``test_names`` in ``data_dir``; ``dataset`` is the shipped set's name
    (``paging/brightkite``) when the folder is the shipped copy, else ``None``."""
    from heurist.envs.common.data import SHIPPED

    folder = Path(data_dir).resolve()
    digest = hashlib.sha256()
    for name in [*train_names, *test_names]:
        digest.update(name.encode() + b"\0" + hashlib.sha256((folder / name).read_bytes())
                      .digest())
    try:
        dataset = folder.relative_to(SHIPPED.resolve()).as_posix()
    except ValueError:
        dataset = None
    return {"data_dir": str(folder), "dataset": dataset, "train_files": list(train_names),
            "test_files": list(test_names), "sha256": digest.hexdigest()}
