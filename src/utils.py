"""Small shared helpers: atomic file writes, the one-line-error argument parser, logging setup."""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import secrets
import socket
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

REPO_ROOT = Path(__file__).resolve().parent.parent


def _temporary_sibling(path: Path) -> tuple[int, Path]:
    """A new file beside path, opened for writing, with the permissions the user's umask gives any file (mkstemp's
    would be 0600: readable by no colleague and no Dask worker running as another user)."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue


def _atomic_write(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temporary_sibling(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file and rename, so a reader never sees a half-written file."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    _atomic_write(path, lambda handle: handle.write(data))


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def atomic_torch_save(obj: Any, path: Path) -> None:
    import torch  # here, so that the scripts that never train (prepare_data.py) start without it

    _atomic_write(path, lambda handle: torch.save(obj, handle))


class UsageError(ValueError):
    """Bad input from the user: reported as one line, exit code 2. Every error of that kind (bad data, a bad
    configuration, an unreadable run or model file) is one of these, so that a command catches one type."""


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default in --help, except where there is none."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return action.help if action.default is None else super()._get_help_string(action)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports bad flags as a single line and exit code 2, and shows defaults in --help."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        fail(message, self.prog)


def cpu_name() -> str:
    """The processor's model name (from /proc/cpuinfo where there is one), to say where a figure was measured."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else (platform.processor() or platform.machine())


def where_and_when(started: float) -> dict[str, Any]:
    """Which process ran a job (host, pid) and when (wall-clock start and end): for slot utilisation."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": started, "end": time.time()}


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """--device and --threads, the same for every script that trains."""
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="auto: CUDA when available, else CPU")
    parser.add_argument("--threads", type=positive_int, help="CPU threads for torch (default: torch's own choice)")


def fail(message: str, prog: str | None = None) -> NoReturn:
    print(f"{prog or Path(sys.argv[0]).name}: error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_bool(text: str) -> bool:
    """True/False/true/false/1/0 for command-line booleans."""
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def setup_logging(quiet: bool = False) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")


def set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def parse_size(text: str) -> int:
    """A count (parameters, multiply-accumulates) written as 2e7 or 20000000; a positive whole number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number like 2e7, got {text!r}") from None
    if not value > 0 or value != int(value):
        raise argparse.ArgumentTypeError(f"expected a positive whole number like 2e7, got {text!r}")
    return int(value)


def parse_fraction(text: str) -> float:
    """A number in [0, 1], e.g. a minimum precision."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def folder_path(text: str) -> Path:
    """A folder argument: it may not exist yet, but if it does it must be a folder."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file; expected a folder")
    return path


def file_path(text: str) -> Path:
    """A file argument: a folder in its place is an error (whether the file must exist is the caller's call)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; expected a file")
    return path


def read_json(path: Path) -> Any:
    """Parse a JSON file; a missing, empty or malformed file raises UsageError naming it."""
    try:
        text = Path(path).read_text()
        if not text.strip():
            raise UsageError(f"{path}: empty file")
        return json.loads(text)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}: not valid JSON ({error})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot be read ({error})") from None
