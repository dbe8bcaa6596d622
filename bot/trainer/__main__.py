"""`python -m bot.trainer [--config PATH]`: one training run; the last stdout line is JSON.

The daemon's retrain job runs exactly this in a child process and reads the final line
(`{"version", "promoted", "eval_loss", ...}`); logs go to stderr. Exit 0 when a version was
trained (promoted or not), 2 for a bad config, 1 for any other failure, 130/143 when
interrupted; a failed run changes nothing. Under `torchrun` or `accelerate launch` every process
runs this and only the main one registers and prints.
"""

from __future__ import annotations

import argparse
import json
import sys

from bot.config import Secrets, load_config
from bot.errors import BotError
from bot.logging import configure_logging, get_logger, redact_text
from bot.trainer.stopping import Terminated, die_with_parent, sigterm_unwinds

log = get_logger("bot.trainer")


def _emit(payload: dict[str, object]) -> None:
    print(json.dumps(payload, ensure_ascii=False), flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run one training run and return the exit code."""
    die_with_parent()
    with sigterm_unwinds():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.trainer", description=__doc__)
    parser.add_argument("--config", metavar="PATH", help="config file (default: as tweetbot)")
    parser.add_argument("--debug", action="store_true", help="full tracebacks")
    args = parser.parse_args(argv)
    configure_logging("auto", level="DEBUG" if args.debug else "INFO",
                      secrets=Secrets.from_env().values())  # fmt: skip
    from bot.store import Store
    from bot.trainer.pipeline import run_training

    store = None
    try:
        config = load_config(args.config)
        config.writable_dir("data_dir")
        store = Store(config.db_path)
        report = run_training(config, store)
    except BotError as exc:
        message = redact_text(str(exc))
        print(f"error: {message}", file=sys.stderr)
        _emit({"version": None, "promoted": False, "eval_loss": None, "error": message})
        return exc.exit_code
    except (KeyboardInterrupt, Terminated) as exc:
        print("interrupted: nothing was changed", file=sys.stderr)
        _emit({"version": None, "promoted": False, "eval_loss": None, "error": "interrupted"})
        return 143 if isinstance(exc, Terminated) else 130
    except Exception as exc:
        if args.debug:
            raise
        message = redact_text(f"{type(exc).__name__}: {exc}")
        print(f"error: {message}", file=sys.stderr)
        _emit({"version": None, "promoted": False, "eval_loss": None, "error": message})
        return 1
    finally:
        if store is not None:
            store.close()
    if report is not None:
        _emit(report.to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
