"""Evaluate one configuration: cross-validation on train/ (default) or train/ → test/ (-t); with --save, also
write the trained network as a folder to use it (model.pt, model.onnx, model card)."""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torchsummary import summary

from budget.closed_forms import Costs
from deploy.bundle import Bundle
from cnn import build_cnn
from deploy.network_folder import write_model_folder
from deploy.model_card import constraint_checks
from reporting.holdout import candidate_from, default_candidate
from training.metrics import DEFAULT_OBJECTIVE, OBJECTIVES, objective_key, objective_label
from training.data import ImageData, class_warnings, in_natural_order, load_dataset
from prepare_data import DEFAULT_DATA_DIR, ensure_data
from search.space import DEFAULT_CONFIG, ConfigError, load_config
from target import DEFAULT_EPOCHS, Target, TargetResult, resolve_device
from status import Mode, Status
from utils import (OneLineParser, UsageError, add_device_arguments, atomic_write_json, atomic_write_text, fail,
                   file_path, folder_path, parse_bool, parse_fraction, parse_size, positive_int, read_json,
                   set_threads, setup_logging)

log = logging.getLogger("main")

EXIT_FAILED, EXIT_CONSTRAINT = 1, 3


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="main.py", description=__doc__)
    parser.add_argument("-c", "--config", type=file_path,
                        help="configuration JSON (default: the default configuration)")
    parser.add_argument("-t", "--test", type=parse_bool, nargs="?", const=True, default=False,
                        help="train on all of train/, measure on test/ (-t alone, or -t True / -t False)")
    parser.add_argument("-e", "--epochs", type=positive_int, default=DEFAULT_EPOCHS, help="training epochs")
    parser.add_argument("--seed", type=int, default=123, help="folds and initialisation")
    parser.add_argument("--objective", choices=list(OBJECTIVES), default=DEFAULT_OBJECTIVE,
                        help="the accuracy reported first and recorded as the objective (the search's --objective)")
    parser.add_argument("-s", "--max_model_size", type=parse_size, help="size constraint (parameters), e.g. 2e7")
    parser.add_argument("-p", "--min_precision", type=parse_fraction, help="precision constraint in [0, 1]")
    parser.add_argument("-x", "--max_macs", type=parse_size,
                        help="MACs constraint (multiply-accumulates per image), e.g. 5e6")
    parser.add_argument("--max_flash", "--constraint_max_flash", type=parse_size,
                        help="flash constraint: bytes of the tensors the int8 network stores, e.g. 32768")
    parser.add_argument("--max_ram", "--constraint_max_ram", type=parse_size,
                        help="RAM constraint: most bytes of int8 activations alive at once, e.g. 16384")
    parser.add_argument("--save", type=folder_path,
                        help="with -t: write model.pt, model.onnx and model_card.md/.json to this folder")
    parser.add_argument("--int8", action="store_true", help="with --save: also write model_int8.onnx")
    parser.add_argument("-m", "--model", type=file_path,
                        help="with -t: write model.pt alone here (the same file as --save writes)")
    parser.add_argument("--output_dir", type=folder_path, default=Path("."),
                        help="where result and confusion-matrix files go")
    parser.add_argument("--data_dir", type=folder_path, default=DEFAULT_DATA_DIR,
                        help="ImageFolder dataset (train/, test/)")
    parser.add_argument("--dry_run", action="store_true", help="validate, build, summarize; no training")
    add_device_arguments(parser)
    return parser


def read_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return dict(DEFAULT_CONFIG)
    try:
        return load_config(read_json(path))
    except ConfigError as error:
        raise UsageError(f"{path}: {error}") from None


def constraint_report(costs: Costs, precision: float | None, args) -> dict[str, Any]:
    """Each given constraint with its limit, the measured value and whether it holds (precision once measured)."""
    limits = {"max_model_size": args.max_model_size, "max_macs": args.max_macs, "max_flash": args.max_flash,
              "max_ram": args.max_ram, "min_precision": None if precision is None else args.min_precision}
    return constraint_checks(limits, {"max_model_size": costs.parameters, "max_macs": costs.macs,
                                      "max_flash": costs.flash, "max_ram": costs.ram, "min_precision": precision})


def print_constraints(report: dict[str, Any]) -> None:
    for name, item in report.items():
        print(f"constraint {name}: {item['value']} vs {item['limit']} -> {'holds' if item['ok'] else 'VIOLATED'}")


def write_results(args, config: dict, train: ImageData, result: TargetResult, report: dict) -> Path:
    mode = Mode.TEST if args.test else Mode.CV
    path = args.output_dir / f"result_{mode}.json"
    payload = {"mode": mode, "epochs": args.epochs, "seed": args.seed, "data_dir": str(args.data_dir),
               "objective": args.objective, "warnings": class_warnings(train, args.objective),
               "metrics": {k: v for k, v in result.to_dict().items() if k != "confusion"},
               "constraints": report, "configuration": config}
    atomic_write_json(path, payload)
    confusion, classes = in_natural_order(result.confusion, train.classes)
    table = pd.DataFrame(confusion, index=classes, columns=classes)
    table.index.name = "true \\ predicted"
    atomic_write_text(args.output_dir / f"confusion_matrix_{mode}.csv", table.to_csv())
    return path


def check_saving(args) -> None:
    if (args.save or args.model) and not args.test:
        raise UsageError("--save and -m need -t: the saved network is the one trained on all of train/")
    if args.int8 and not args.save:
        raise UsageError("--int8 needs --save DIR (model_int8.onnx goes next to model.onnx)")
    if args.save and args.save.exists() and not args.save.is_dir():
        raise UsageError(f"--save {args.save}: a file is in the way; expected a folder")


def source_of(args) -> tuple[dict[str, float | None], str]:
    """The constraints the configuration was searched under (those of the run beside its file; -s, -p, -x,
    --max_flash and --max_ram take precedence) and where the configuration came from, for the model card."""
    candidate = candidate_from(args.config) if args.config else default_candidate()
    limits = {"max_model_size": candidate.max_size, "min_precision": candidate.min_precision,
              "max_macs": candidate.max_macs, "max_flash": candidate.max_flash, "max_ram": candidate.max_ram}
    given = {"max_model_size": args.max_model_size, "min_precision": args.min_precision, "max_macs": args.max_macs,
             "max_flash": args.max_flash, "max_ram": args.max_ram}
    return {name: given[name] if given[name] is not None else limit for name, limit in limits.items()}, \
        candidate.origin


def save_network(args, config: dict, train: ImageData, test: ImageData, checkpoint: Path) -> None:
    """model.pt alone (-m), or the whole folder (--save), of the network just trained on all of train/."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    bundle = Bundle.from_training(config, train, state["folds"][0]["model"],
                                  {"epochs": args.epochs, "seed": args.seed, "data_dir": str(args.data_dir)})
    if args.model:
        bundle.save(args.model)
    if args.save:
        limits, origin = source_of(args)
        card = write_model_folder(args.save, bundle, train, test, int8=args.int8, limits=limits, origin=origin,
                                  threads=args.threads, objective=args.objective)
        print(f"saved {', '.join(card['files'])} in {args.save}")


def run(args) -> int:
    check_saving(args)
    config = read_config(args.config)
    ensure_data(args.data_dir)
    train, test = load_dataset(args.data_dir, with_test=args.test, objective=args.objective)
    device = resolve_device(args.device)
    model = build_cnn(config, train.input_shape, train.num_classes)
    summary(model, train.input_shape, device="cpu")
    target = Target(train, test, mode=Mode.TEST if args.test else Mode.CV, seed=args.seed, max_budget=args.epochs,
                    device=args.device)
    costs = target.model_costs(config)
    print(f"model size: {costs.parameters:,} parameters, {costs.macs:,} multiply-accumulates per image; as an int8 "
          f"network {costs.flash:,} B of flash and {costs.ram:,} B of RAM; data: {len(train.labels)} training images, "
          f"{train.num_classes} classes, input {'x'.join(map(str, train.input_shape))}; device {device}")
    if args.dry_run:
        report = constraint_report(costs, None, args)
        print_constraints(report)
        return 0 if all(item["ok"] for item in report.values()) else EXIT_CONSTRAINT
    checkpoint = args.output_dir / ".main_checkpoint.pt" if args.model or args.save else None
    result = target(config, args.epochs, checkpoint_out=checkpoint)
    report = constraint_report(costs, result.precision, args)
    path = write_results(args, config, train, result, report)
    if checkpoint is not None and result.status == Status.OK:
        save_network(args, config, train, test, checkpoint)
        checkpoint.unlink()
    where = "test/" if args.test else f"{len(target.splits)}-fold CV on train/"
    accuracy = result.to_dict()[objective_key(args.objective)]
    print(f"{where}: {objective_label(args.objective)} {accuracy:.4f}, precision {result.precision:.4f}, "
          f"{result.epochs} epochs in {result.train_seconds:.1f} s, status {result.status}")
    print_constraints(report)
    print(f"results: {path}")
    if result.status != Status.OK:
        print(f"main.py: training {result.status}: {result.message}", file=sys.stderr)
        return EXIT_FAILED
    return 0 if all(item["ok"] for item in report.values()) else EXIT_CONSTRAINT


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    set_threads(args.threads)
    try:
        return run(args)
    except UsageError as error:
        fail(str(error), "main.py")


if __name__ == "__main__":
    sys.exit(main())
