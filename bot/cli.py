"""The `tweetbot` command: a click group of thin commands that wire objects and call the modules.

Exit codes: 0 success; 2 bad usage or bad config (one line naming the file and key); 1 any other
failure (one line; the traceback only with --debug).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import click

from bot.config import Config, Secrets, example_config_text, load_config
from bot.errors import BotError, UsageError
from bot.logging import configure_logging, get_logger, redact_text
from bot.store import Store, parse_iso, utcnow

log = get_logger(__name__)


class AppContext:
    """What every command may need, built lazily so `init` and `--help` need no config."""

    def __init__(self, config_file: str | None, log_format: str, debug: bool) -> None:
        self.config_file = config_file
        self.log_format = log_format
        self.debug = debug
        self.secrets = Secrets.from_env()
        self._config: Config | None = None
        self._store: Store | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_file)
        return self._config

    def store(self) -> Store:
        """Open (and migrate) the database named by the config."""
        if self._store is None:
            # A read-only data_dir is a config error naming the folder, not a bare OSError.
            self.config.writable_dir("data_dir")
            self._store = Store(self.config.db_path)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


pass_app = click.make_pass_decorator(AppContext)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_file",
    metavar="PATH",
    help="Config file (default: $TWEETBOT_CONFIG, then ./config.toml).",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "console", "json"]),
    default="auto",
    show_default=True,
    help="Console on a TTY and JSON lines otherwise, unless forced.",
)
@click.option("--debug", is_flag=True, help="Verbose logs and full tracebacks.")
@click.version_option(package_name="tweetbot")
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, log_format: str, debug: bool) -> None:
    """tweetbot: a Twitter/X bot that fine-tunes GPT-2 on an account's tweets and posts as it."""
    app = AppContext(config_file, log_format, debug)
    configure_logging(
        log_format,  # type: ignore[arg-type]
        level="DEBUG" if debug else "INFO",
        secrets=app.secrets.values(),
    )
    ctx.obj = app
    ctx.call_on_close(app.close)


# ---- foundation --------------------------------------------------------------------------


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Write a commented starter config.toml into DIRECTORY (never overwrites one)."""
    target = directory / "config.toml"
    if target.exists():
        raise UsageError(f"{target}: already exists; not overwriting it")
    directory.mkdir(parents=True, exist_ok=True)
    # "x" mode: a file that appears between the check and the write is still not clobbered.
    try:
        with target.open("x", encoding="utf-8") as handle:
            handle.write(example_config_text())
    except FileExistsError:
        raise UsageError(f"{target}: already exists; not overwriting it") from None
    click.echo(f"wrote {target}; edit it, set the TWITTER_* variables, then `tweetbot fetch`")


@cli.command()
@pass_app
def health(app: AppContext) -> None:
    """Exit 0 while the daemon's heartbeat is fresh and no job keeps failing, else 1 with the
    reason (for HEALTHCHECK)."""
    config = app.config
    if not config.db_path.exists():
        raise BotError(f"unhealthy: no database at {config.db_path}")
    from bot.daemon.report import health_problem

    store = app.store()
    problem = health_problem(store, config)
    if problem is not None:
        raise BotError(f"unhealthy: {problem}")
    beat = store.last_heartbeat()
    age = utcnow() - beat if beat else timedelta(0)
    click.echo(f"healthy: last heartbeat {int(age.total_seconds())}s ago")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("-n", "limit", default=10, show_default=True, help="Recent outbox rows to show.")
@pass_app
def status(app: AppContext, as_json: bool, limit: int) -> None:
    """Show recent posts, replies and skips, the current model, next job times and budget."""
    from bot.daemon.report import status_report

    report = status_report(app.store(), app.config, limit)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    click.echo(f"bot:        {report['bot']}{'  (dry run)' if report['dry_run'] else ''}")
    click.echo(f"model:      {report['model_version'] or '(none promoted yet)'}")
    click.echo(f"heartbeat:  {report['heartbeat'] or '(never)'}")
    for network, budget in report["networks"].items():
        label = "budget:" if len(report["networks"]) == 1 else f"{network}:"
        click.echo(
            f"{label:<12}{budget['today']}/{budget['posts_per_day']} today, "
            f"{budget['this_month']}/{budget['posts_per_month']} this month"
        )
    for job, when in sorted(report["next_runs"].items()):
        click.echo(f"next {job + ':':<11}{when}")
    for failing in report["failing_jobs"]:
        click.echo(
            f"FAILING {failing['job'] + ':':<8}{failing['failures']} times in a row since "
            f"{failing['since']}: {failing['last_error']}"
        )
    click.echo("recent:")
    if not report["recent"]:
        click.echo("  (nothing yet)")
    for row in report["recent"]:
        when = parse_iso(row["created_at"]).strftime("%Y-%m-%d %H:%M")
        detail = row["text"] or ""
        if (
            row["status"] in ("skipped", "failed", "unknown", "rejected", "expired")
            and row["reason"]
        ):
            detail = f"[{row['reason']}] {detail}"
        # With several networks each row says where it went.
        where = f"{row['network']:<9}" if len(report["networks"]) > 1 else ""
        click.echo(f"  {when} {where}{row['kind']:<5} {row['status']:<7} {detail[:100]}")


# ---- corpus (issue 4): fetch, import, corpus ---------------------------------------------


@cli.command()
@pass_app
def fetch(app: AppContext) -> None:
    """Fetch new posts of every [source] account (X, Bluesky, Mastodon; incremental; safe to
    re-run)."""
    from bot.app import build_fetch_platform
    from bot.corpus import fetch_sources
    from bot.platform.base import AuthError, PlatformError

    config = app.config
    config.require_sources()
    store = app.store()
    try:
        platform = build_fetch_platform(config, app.secrets)
        summary = fetch_sources(store, platform, config, progress=sys.stderr.isatty())
    except AuthError as exc:
        raise UsageError(f"fetch: {exc}") from None
    except PlatformError as exc:
        raise BotError(
            f"fetch stopped: {exc}; the pages already fetched are stored, "
            "run `tweetbot fetch` again to resume"
        ) from None
    except KeyboardInterrupt:
        click.echo(
            "fetch interrupted: pages already fetched are stored; re-run to resume", err=True
        )
        raise
    click.echo(summary.line())


@cli.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--username",
    metavar="NAME",
    help="Whose tweets these are (default: data/account.js, else the one configured source).",
)
@pass_app
def import_(app: AppContext, path: Path, username: str | None) -> None:
    """Import an X archive: the downloaded .zip, its extracted folder, or a tweets.js file.

    Pre-2019 Grailbird exports work too. Long posts take their full text from note-tweet.js;
    deleted tweets are never imported. All of the archive is stored, or none of it.
    """
    from bot.corpus import import_archive

    config = app.config
    summary = import_archive(app.store(), path, username=username, config=config)
    click.echo(summary.line())
    configured = {name.lower() for name in config.source.usernames}
    if configured and summary.username.lower() not in configured:
        click.echo(
            f"note: @{summary.username} is not in [source] usernames, so training will not "
            "use these tweets until you add it",
            err=True,
        )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def corpus(app: AppContext, as_json: bool) -> None:
    """Print the data table: tweets downloaded, retweets, short tweets, other drops, kept."""
    from bot.corpus import data_table

    table = data_table(app.store(), app.config)
    if as_json:
        click.echo(json.dumps(table.to_dict(), indent=2))
        return
    click.echo(table.markdown())
    if table.total.downloaded == 0:
        click.echo(
            "no source tweets yet: run `tweetbot fetch` or `tweetbot import ARCHIVE`", err=True
        )


# ---- generation (issue 6): generate -------------------------------------------------------


@cli.command()
@click.argument("prompt", required=False)
@click.option(
    "-n", "count", type=click.IntRange(1, 64), help="Candidates (default: [generation] candidates)."
)
@click.option(
    "--model",
    "model_dir",
    metavar="DIR",
    type=click.Path(path_type=Path),
    help="Model directory (default: the current version in the registry).",
)
@click.option(
    "--reply-to", metavar="USER", help="Judge candidates as replies to USER (their @ is allowed)."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def generate(
    app: AppContext,
    prompt: str | None,
    count: int | None,
    model_dir: Path | None,
    reply_to: str | None,
    as_json: bool,
) -> None:
    """Generate candidates from PROMPT (or unprompted) and print each with its filter verdicts."""
    from bot.daemon.composer import Composer
    from bot.filters import Filters
    from bot.generation import Generator

    config = app.config
    store = app.store()
    if model_dir is None:
        current = store.current_model()
        if current is None:
            raise UsageError(
                "no current model: train one with `tweetbot train`, or pass --model DIR"
            )
        model_dir = Path(current.path)
        if not model_dir.is_absolute():
            model_dir = config.base_dir / model_dir
    generator = Generator.load(model_dir, config.model.device, settings=config.generation)
    composer = Composer(
        generator, Filters.from_store(config, store, dry_run=config.bot.dry_run), config
    )
    judged = composer.candidates(prompt, count, reply_to=reply_to)
    if as_json:
        report: dict[str, Any] = {"model_version": generator.version, "prompt": prompt}
        report["candidates"] = [c.to_dict() for c in judged]
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    click.echo(f"model {generator.version} ({generator.device}), {len(judged)} candidates:")
    for number, candidate in enumerate(judged, start=1):
        mark = "PASS" if candidate.passed else "FAIL"
        click.echo(f"{number:>2}. [{mark}] ({candidate.mean_logprob:+.2f}) {candidate.text}")
        for verdict in candidate.verdicts:
            if not verdict.passed:
                click.echo(f"      {verdict.rule}: {verdict.reason}")


@cli.command()
@click.argument("text", required=False)
@click.option("--reply-to", metavar="USER", help='Judge it as a reply to USER ("@USER " opens it).')
@click.option(
    "--network",
    type=click.Choice(["x", "bluesky", "mastodon"]),
    default="x",
    show_default=True,
    help="Whose length limit applies (X 280 weighted, Bluesky 300, Mastodon 500).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def check(
    app: AppContext, text: str | None, reply_to: str | None, network: str, as_json: bool
) -> None:
    """Judge TEXT (or stdin with -) with the filters a candidate faces: exit 0 if it would be
    posted, 1 if rejected. Prints every rule's verdict."""
    from bot.filters import judge_text

    if text is None:
        raise UsageError("check: give the TEXT to judge, or - to read it from stdin")
    if text == "-":
        text = sys.stdin.read().rstrip("\n")
    judgement = judge_text(
        app.config, app.store(), text, reply_to_username=reply_to, network=network
    )
    if as_json:
        click.echo(json.dumps(judgement.to_dict(), indent=2, ensure_ascii=False))
    else:
        for verdict in judgement.verdicts:
            mark = "PASS" if verdict.passed else "FAIL"
            click.echo(
                f"[{mark}] {verdict.rule}" + (f": {verdict.reason}" if verdict.reason else "")
            )
        click.echo(
            f"{'would be posted' if judgement.passed else 'rejected'} ({network}): {judgement.text}"
        )
    if not judgement.passed:
        # SystemExit, not click's Exit: `main` runs click with standalone_mode=False, where an
        # Exit code is returned and lost; the verdicts above already say why.
        sys.exit(1)


# ---- daemon (issue 7): run -----------------------------------------------------------------


@cli.command()
@click.option("--dry-run", is_flag=True, help="Print posts and replies, never send them.")
@click.option("--once", is_flag=True, help="Run each due job once, then exit (cron, tests).")
@click.option(
    "--for",
    "run_for",
    metavar="DURATION",
    help='Stop by itself after DURATION, e.g. "90s" (demos, smoke tests).',
)
@click.option(
    "--simulate-mentions",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Dry run only: offline mentions from a JSON file (see bot/platform/simulated.py).",
)
@pass_app
def run(
    app: AppContext, dry_run: bool, once: bool, run_for: str | None, simulate_mentions: Path | None
) -> None:
    """Run the bot: post on schedule, answer mentions, retrain; SIGTERM or Ctrl-C stops it."""
    import os
    import signal
    import threading

    from bot.config import parse_duration

    seconds = None
    if run_for is not None:
        try:
            seconds = parse_duration(run_for)
        except ValueError as exc:
            raise UsageError(f"--for: {exc}") from None
    dry = dry_run or app.config.bot.dry_run
    # Loading the model takes a while; a stop asked for meanwhile is honoured right after.
    early_stop = threading.Event()
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    for signum in previous:
        signal.signal(signum, lambda *_: early_stop.set())
    try:
        finished = _run_daemon(app, dry, once, seconds, simulate_mentions, early_stop)
    finally:
        # Back to what the caller had (matters when `run` is invoked in-process, as in tests).
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if not finished:
        # A generation is still running in a worker thread; the outbox is consistent (the
        # store is closed), so leave now rather than wait for it: a stop must be prompt.
        logging.shutdown()
        os._exit(0)


def _run_daemon(
    app: AppContext,
    dry: bool,
    once: bool,
    seconds: float | None,
    simulate_mentions: Path | None,
    early_stop: Any,
) -> bool:
    """Build the daemon and run it; True when every job had finished at the stop."""
    from bot.app import build_daemon
    from bot.daemon.lock import DaemonLock
    from bot.scheduler import DaemonScheduler

    app.config.writable_dir("data_dir")  # the lock file lives there too
    # Never two daemons on one database; the kernel frees the lock however the process ends.
    with DaemonLock(app.config.data_dir / "daemon.lock"):
        store = app.store()
        daemon = build_daemon(
            app.config, store, app.secrets, dry_run=dry, simulated_mentions=simulate_mentions
        )
        store.set_state("dry_run", str(dry).lower())
        if dry:
            log.info("dry run: posts and replies are printed, never sent")
        scheduler = DaemonScheduler(daemon)
        scheduler.install_signal_handlers()
        if early_stop.is_set():
            scheduler.request_stop()
        if once:
            outcomes = scheduler.run_once()
            log.info("ran once", **outcomes)
            app.close()
            return True
        if not early_stop.is_set():
            scheduler.start()
            scheduler.wait(seconds)
        finished = scheduler.stop()
        app.close()
        return finished


# ---- trainer (issue 5): train, models, models promote ----------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the run summary as one JSON line.")
@pass_app
def train(app: AppContext, as_json: bool) -> None:
    """Train a model version on the kept corpus, register it, and promote it if it is better."""
    from bot.trainer.pipeline import run_training
    from bot.trainer.stopping import Terminated, sigterm_unwinds

    # SIGTERM unwinds as in `python -m bot.trainer`: the temporary version directory is
    # removed and the run is recorded as failed (stopped), instead of the process vanishing.
    try:
        with sigterm_unwinds():
            report = run_training(app.config, app.store())
    except (Terminated, KeyboardInterrupt) as exc:
        click.echo("interrupted: nothing was changed", err=True)
        # SystemExit, not click's Exit: `main` runs click with standalone_mode=False, where an
        # Exit's code is returned and lost.
        raise SystemExit(143 if isinstance(exc, Terminated) else 130) from None
    if report is None:  # an extra process of a multi-GPU run: the main one reports
        return
    summary = report.to_dict()
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
        return
    verdict = "promoted to current" if summary["promoted"] else "kept, not promoted"
    click.echo(f"version {summary['version']}: {verdict} ({summary['reason']})")
    click.echo(
        f"eval loss {summary['eval_loss']:.4f} (perplexity {summary['eval_perplexity']:.1f}), "
        f"{summary['tweets']['train']} tweets, {summary['steps']} steps, "
        f"{summary['duration_s']:.0f}s"
    )
    click.echo(f"saved in {summary['path']} (model card: README.md)")
    if summary["deleted"]:
        click.echo(f"pruned old versions: {', '.join(summary['deleted'])}")


def _model_rows(store: Store) -> list[dict[str, Any]]:
    keys = ("version", "path", "current", "eval_loss", "train_loss", "base", "created_at")
    return [{k: row.to_dict()[k] for k in keys} for row in store.model_versions()]


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def models(ctx: click.Context, as_json: bool) -> None:
    """List trained model versions, newest first (* marks the current one)."""
    if ctx.invoked_subcommand is not None:
        return
    rows = _model_rows(ctx.find_object(AppContext).store())  # type: ignore[union-attr]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no model versions yet (train one with `tweetbot train`)")
        return
    for row in rows:
        loss = f"{row['eval_loss']:.4f}" if row["eval_loss"] is not None else "-"
        mark = "*" if row["current"] else " "
        click.echo(
            f"{mark} {row['version']:<20} eval_loss {loss:<8} {row['base']:<14} {row['path']}"
        )


@models.command("promote")
@click.argument("version")
@pass_app
def models_promote(app: AppContext, version: str) -> None:
    """Make VERSION the current model (roll back or forward); the daemon loads it next."""
    from bot.trainer.registry import promote

    promote(app.store(), version)
    click.echo(f"version {version} is now current")


# ---- end trainer ------------------------------------------------------------------------------


# ---- review and console (issue 14): review, web ------------------------------------------------


def _print_review_item(item: Any) -> None:
    click.echo(f"{item.id:>5}  {item.kind:<5} {item.network:<8} {item.status:<15} {item.text}")
    for number, alternate in enumerate(item.alternates, start=1):
        click.echo(f"{'':>7}alt {number}: {alternate}")


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def review(ctx: click.Context, as_json: bool) -> None:
    """List posts and replies awaiting review, oldest first, with their alternates."""
    from bot.store import review as queue

    if ctx.invoked_subcommand is not None:
        return
    items = queue.awaiting(ctx.find_object(AppContext).store())  # type: ignore[union-attr]
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in items], indent=2, ensure_ascii=False))
        return
    if not items:
        click.echo("nothing awaiting review")
    for item in items:
        _print_review_item(item)


@review.command("approve")
@click.argument("post_id", metavar="ID", type=int)
@pass_app
def review_approve(app: AppContext, post_id: int) -> None:
    """Approve post ID: the running daemon sends it under the usual outbox rules."""
    from bot.store import review as queue

    queue.approve(app.store(), post_id)
    click.echo(f"post {post_id} approved")


@review.command("reject")
@click.argument("post_id", metavar="ID", type=int)
@pass_app
def review_reject(app: AppContext, post_id: int) -> None:
    """Reject post ID: it is never sent."""
    from bot.store import review as queue

    queue.reject(app.store(), post_id)
    click.echo(f"post {post_id} rejected")


@review.command("edit")
@click.argument("post_id", metavar="ID", type=int)
@click.argument("text")
@pass_app
def review_edit(app: AppContext, post_id: int, text: str) -> None:
    """Replace the text of post ID; the new text must pass the filters (exit 1 if refused)."""
    from bot.daemon.review import filters_judge
    from bot.store import review as queue

    store = app.store()
    item = queue.edit(store, post_id, text, filters_judge(app.config, store))
    click.echo(f"post {post_id} now reads: {item.text}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8350, show_default=True, type=click.IntRange(0, 65535))
@pass_app
def web(app: AppContext, host: str, port: int) -> None:
    """Serve the operator console (needs TWEETBOT_WEB_TOKEN); Ctrl-C stops it."""
    from bot.web import serve, web_token

    token = web_token()
    serve(app.config, token, host=host, port=port)


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: run the CLI and turn errors into one line and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="tweetbot", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except BotError as exc:
        if debug:
            log.exception("command failed")
        click.echo(f"error: {redact_text(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        click.echo(f"error: {redact_text(f'{type(exc).__name__}: {exc}')}", err=True)
        click.echo("(run with --debug for the traceback)", err=True)
        sys.exit(1)
    sys.exit(0)
