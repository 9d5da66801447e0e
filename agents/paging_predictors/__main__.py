"""``python -m heurist.agents.paging_predictors --out DIR [--epochs N] [--seed S] [--families a,b]``:
trains the paging predictor on the training part of each family and exports it to ``DIR``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from heurist.agents.paging_predictors.train import PredictorConfig, train_predictor

    parser = argparse.ArgumentParser(prog="python -m heurist.agents.paging_predictors")
    parser.add_argument("--out", required=True, help="artifact folder to write (replaced)")
    parser.add_argument("--epochs", type=int, default=PredictorConfig.epochs)
    parser.add_argument("--seed", type=int, default=PredictorConfig.seed)
    parser.add_argument("--families", default=",".join(PredictorConfig.families))
    args = parser.parse_args(argv)
    try:
        cfg = PredictorConfig(epochs=args.epochs, seed=args.seed,
                              families=tuple(f for f in args.families.split(",") if f))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from heurist.policies.export.artifact import export_artifact

    predictor, record = train_predictor(cfg)
    from heurist.agents.data import find_traces, split_traces
    from heurist.policies.export.provenance import data_provenance

    train, test = split_traces(find_traces(None), n_train=70)
    provenance = {**data_provenance(train[0].parent, [p.name for p in train],
                                    [p.name for p in test]),
                  "synthetic": "heurist.agents.paging_predictors.data.family_traces "
                               f"(seed {cfg.seed}, {cfg.n_synthetic} traces per family)"}
    provenance["data_dir"] = None  # the shipped set; no machine-specific path in the manifest
    out = export_artifact(predictor.net, Path(args.out), training=record, provenance=provenance,
                          replace=True)
    print(f"wrote {out} ({record['train_rows']} rows, {record['train_seconds']} s); "
          f"calibration {record['calibration']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
