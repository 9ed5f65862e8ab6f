"""``genai-batch-emulator`` / ``python -m airflow_provider_genai_batch.emulator``: serve an emulator.

Prints the base URL (``http://127.0.0.1:PORT``) as the first line of stdout, then serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from airflow_provider_genai_batch.emulator.errors import EmulatorError
from airflow_provider_genai_batch.emulator.state import EmulatorConfig

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    defaults = EmulatorConfig()
    parser = argparse.ArgumentParser(
        prog="genai-batch-emulator",
        description="Local emulator of the Gemini batch API, Vertex AI batch prediction, the Files API and GCS.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8085, help="port to bind, 0 for any free port (default: %(default)s)"
    )
    parser.add_argument("--api-key", default=defaults.api_key, help="Gemini API key to accept (default: %(default)s)")
    parser.add_argument(
        "--job-seconds", type=float, default=defaults.job_seconds, help="RUNNING duration (default: %(default)s)"
    )
    parser.add_argument(
        "--pending-seconds",
        type=float,
        default=defaults.pending_seconds,
        help="PENDING duration (default: %(default)s)",
    )
    parser.add_argument(
        "--cancel-seconds",
        type=float,
        default=defaults.cancel_seconds,
        help="Vertex CANCELLING duration (default: %(default)s)",
    )
    parser.add_argument(
        "--vertex-shard-rows",
        type=int,
        default=defaults.vertex_shard_rows,
        help="rows per Vertex predictions shard (default: %(default)s)",
    )
    parser.add_argument(
        "--accept-token",
        action="append",
        default=[],
        metavar="TOKEN",
        help="bearer token accepted by Vertex and GCS routes (repeatable; default: any non-empty token)",
    )
    parser.add_argument(
        "--lenient",
        action="store_true",
        help="do not check bodies and input lines against Google's published schemas (default: strict)",
    )
    parser.add_argument(
        "--keep-order",
        action="store_true",
        help="return results in request order (default: a shuffled order seeded by the job name, as Google may)",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="ID",
        help="a model id to accept besides Google's published ones (repeatable), e.g. a model newer than this list",
    )
    parser.add_argument(
        "--any-model",
        action="store_true",
        help="accept any model name (default: 404 NOT_FOUND for a model Google does not publish)",
    )
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until interrupted; returns the process exit status."""
    args = _parser().parse_args(argv)
    try:
        config = EmulatorConfig(
            api_key=args.api_key,
            job_seconds=args.job_seconds,
            pending_seconds=args.pending_seconds,
            cancel_seconds=args.cancel_seconds,
            vertex_shard_rows=args.vertex_shard_rows,
            accepted_tokens=tuple(args.accept_token),
            strict=not args.lenient,
            shuffle_results=not args.keep_order,
            check_models=not args.any_model,
            extra_models=tuple(args.model),
        )
    except EmulatorError as exc:
        print(f"genai-batch-emulator: {exc.message}", file=sys.stderr)
        return 2
    # Imported here so that --help and argument errors stay fast.
    from airflow_provider_genai_batch.emulator.app import EmulatorApp
    from airflow_provider_genai_batch.emulator.server import base_url_of, bind_socket, serve_forever

    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        print(f"genai-batch-emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    base_url = base_url_of(sock)
    print(base_url, flush=True)
    print(
        f"Gemini: genai.Client(api_key={config.api_key!r}, http_options={{'base_url': {base_url!r}}})\n"
        f"Vertex: genai.Client(vertexai=True, project=..., location=..., credentials=<any token>, "
        f"http_options={{'base_url': {base_url!r}}})\n"
        f"Control API: {base_url}/_emulator/stats",
        file=sys.stderr,
        flush=True,
    )
    with sock:
        serve_forever(EmulatorApp(config), sock, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
