"""``optiwise synth``: solver-verified synthetic problems from seed formulations.

::

    optiwise synth --seeds samples --n 100 --out synth/ --model gpt-4o-mini
    optiwise synth --seeds my_models/ --n 20 --out synth/ --no-backtranslate
    optiwise synth --seeds samples --n 500 --out synth/ --model M --batch-export requests.jsonl
    optiwise synth --out synth/ --model M --batch-import batch_output.jsonl
    optiwise synth --seeds samples --n 500 --out synth/ --model M --executor process

A stopped run resumes when started again with the same options and ``--out``:
the instances are read back from ``OUT/instances.jsonl`` and the ones already
accepted, rejected or dropped (``OUT/progress.jsonl``) are not redone;
``--fresh`` starts over. A larger (or smaller) ``--n`` with otherwise the same
options keeps the finished instances: they are drawn in a fixed seeded order, so
only the new ones are back-translated and checked. The accepted problems (``OUT/problems.jsonl``) load with
``optiwise tune --problems OUT/problems.jsonl``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evals.synth.generators import Instance

__all__ = ["register"]


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def register(subparsers: Any) -> None:
    """Add ``synth`` to the ``optiwise`` command line."""
    p = subparsers.add_parser(
        "synth",
        help="synthesize solver-labelled problems from seed formulations",
        description=(
            "Generate instances from seed formulations (scaled sets, drawn parameters, "
            "varied constraint families), label them with the solver, have the LLM write "
            "each word problem and the agent formulate it back; keep the pairs whose "
            "optimum matches (the rest form a hard set), minus near-duplicates of "
            "registered benchmarks."
        ),
    )
    p.add_argument(
        "--seeds",
        default="samples",
        metavar="DIR|samples",
        help="'samples' (the packaged sample formulations, default) or a folder of YAML/JSON "
        "formulations",
    )
    p.add_argument("--seed-names", metavar="A,B", help="only these seed ids")
    p.add_argument("--n", type=int, default=100, help="instances to generate (default 100)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--model", help="LLM for back-translation and the forward check")
    p.add_argument("--forward-model", help="another LLM for the forward check (default --model)")
    p.add_argument("--base-url", metavar="URL", help="OpenAI-compatible endpoint")
    p.add_argument(
        "--seed", type=int, default=0, help="random seed (default 0): same seed, same set"
    )
    p.add_argument(
        "--complexity",
        type=int,
        choices=(1, 2, 3),
        default=2,
        help="1: data only; 2: also scale sets, change a constraint family half the time; "
        "3: always change the structure (default 2)",
    )
    p.add_argument(
        "--spread", type=float, help="relative spread of parameter draws (default 0.1 per level)"
    )
    p.add_argument(
        "--keep-infeasible",
        action="store_true",
        help="keep infeasible and unbounded instances, labelled as such",
    )
    p.add_argument(
        "--no-backtranslate",
        action="store_true",
        help="no LLM: write labelled formulations (the question is the model itself)",
    )
    p.add_argument(
        "--batch-export",
        metavar="FILE",
        help="write the back-translation calls as an OpenAI Batch API file and stop",
    )
    p.add_argument(
        "--batch-import",
        metavar="FILE",
        nargs="+",
        help="read the batch output for OUT/instances.jsonl and finish the run",
    )
    p.add_argument("--no-dedup", action="store_true", help="skip the benchmark dedup")
    p.add_argument("--data-dir", metavar="DIR", help="benchmark mirror to dedup against")
    p.add_argument("--name", default="synth", help="dataset name in the output (default synth)")
    p.add_argument("--concurrency", type=int, default=8, help="instances at a time (default 8)")
    p.add_argument("--time-limit", type=float, default=20.0, help="seconds per solve (default 20)")
    p.add_argument("--max-repairs", type=int, default=3, help="forward check repair rounds")
    p.add_argument(
        "--examples",
        type=int,
        default=2,
        metavar="N",
        help="few-shot samples the forward agent sees (default 2). The closest sample is "
        "often the instance's own seed, which makes the check easier: 0 turns that off",
    )
    p.add_argument(
        "--executor",
        choices=("local", "process", "ray"),
        default="local",
        help="where the forward check's agent work (check, compile, solve, verify) runs: "
        "this process (default), a pool of worker processes, or Ray actors; the LLM calls "
        "stay in this process",
    )
    p.add_argument(
        "--workers",
        type=int,
        help="process workers (default: one per core but one) or Ray actors (one per core)",
    )
    p.add_argument(
        "--ray-address", metavar="ADDR", help="a Ray cluster (ray://host:10001); default local"
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="start over in --out instead of resuming the run found there",
    )
    p.set_defaults(handler=_synth)


RUN_FILE = "run.json"
"""The options that decide a run's instances and labels (a resumed run must match them)."""

_RUN_KEYS = (
    "seeds",
    "seed_names",
    "n",
    "seed",
    "complexity",
    "spread",
    "keep_infeasible",
    "time_limit",
    "no_backtranslate",
    "model",
    "forward_model",
    "name",
    "examples",
    "max_repairs",
    "no_dedup",
)


def _run_options(args: argparse.Namespace) -> dict[str, object]:
    return {k: getattr(args, k, None) for k in _RUN_KEYS}


GROW = "n"
"""The one option a run may change on resuming: its instances are drawn in a fixed,
seeded order, so the first ``n`` of a larger ``--n`` are the earlier run's."""


def _resumable(out: Path, args: argparse.Namespace) -> tuple[bool, str]:
    """Whether ``out`` holds a run to resume (and why not).

    ``(True, "")``: the same options; ``(True, GROW)``: only ``--n`` differs (the
    instances are drawn again and must start with the earlier ones);
    ``(False, refusal)``: other options differ.
    """
    from evals.synth.pipeline import PROGRESS

    run_file = out / RUN_FILE
    if args.fresh or not run_file.exists() or not (out / "instances.jsonl").exists():
        return False, ""
    try:
        before = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False, ""
    now = _run_options(args)
    changed = sorted(k for k in _RUN_KEYS if before.get(k) != now.get(k))
    if changed == [GROW] and (out / PROGRESS).exists():
        return True, GROW
    if changed:
        if (out / PROGRESS).exists():
            return False, (
                f"{out} holds a run with other options ({', '.join(changed)} differ); resume "
                "it with the same options, start over with --fresh, or use another --out"
            )
        return False, ""
    return True, ""


def _grow_mismatch(out: Path, instances: Sequence[Instance]) -> str:
    """Why the earlier run's instances are not the start of ``instances`` ("" when they are).

    Also logs what a changed ``--n`` keeps.
    """
    from evals.synth.pipeline import read_instances, read_progress

    try:
        before = read_instances(out / "instances.jsonl")
    except (FileNotFoundError, ValueError) as exc:
        return str(exc)
    for old, new in zip(before, instances, strict=False):
        if old.id != new.id or json.dumps(old.formulation, sort_keys=True) != json.dumps(
            new.formulation, sort_keys=True
        ):
            return f"instance {old.id} was drawn as {new.id} or with another formulation"
    ids = {i.id for i in instances}
    kept = sum(1 for k, v in read_progress(out).items() if k in ids and v["kind"] != "error")
    _err(
        f"--n changed from {len(before)} to {len(instances)}: the same seeded draw, so the "
        f"{kept} instance(s) finished in {out} are kept"
    )
    return ""


def _synth(args: argparse.Namespace) -> int:
    from evals.synth.generators import Settings
    from evals.synth.pipeline import (
        export_batch,
        import_batch_texts,
        make_instances,
        read_instances,
        run_synthesis,
        write_instances,
    )
    from evals.synth.seeds import SeedError, load_seeds

    out = Path(args.out)
    settings = Settings(
        complexity=args.complexity,
        spread=args.spread,
        time_limit=args.time_limit,
        keep_infeasible=args.keep_infeasible,
    )
    needs_llm = not args.no_backtranslate
    if needs_llm and not args.model:
        from agent.settings import LLMSettings

        args.model = LLMSettings().model
    if args.batch_import:
        try:
            instances = read_instances(out / "instances.jsonl")
            texts, batch_errors = import_batch_texts(args.batch_import)
        except (FileNotFoundError, ValueError) as exc:
            _err(f"error: {exc}")
            return 1
        if batch_errors:
            _err(f"warning: {len(batch_errors)} batch line(s) carry errors; those are skipped")
        if not texts:
            _err(
                f"error: {args.batch_import}: no back-translation for the instances in "
                f"{out / 'instances.jsonl'} (custom ids look like synth:<instance id>)"
            )
            return 1
        skipped: list[dict[str, str]] = []
        resume = True
    else:
        if args.n <= 0:
            _err("error: --n must be positive")
            return 1
        resume, refusal = _resumable(out, args) if not args.batch_export else (False, "")
        grow = resume and refusal == GROW
        if refusal and not grow:
            _err(f"error: {refusal}")
            return 2
        if resume and not grow:
            try:
                instances = read_instances(out / "instances.jsonl")
            except (FileNotFoundError, ValueError) as exc:
                _err(f"error: {exc}")
                return 1
            report_file = out / "report.json"
            skipped = []
            if report_file.exists():
                with contextlib.suppress(OSError, json.JSONDecodeError, AttributeError):
                    skipped = list(json.loads(report_file.read_text()).get("skipped_seeds", []))
            _err(f"resuming the run in {out}: {len(instances)} instance(s) from instances.jsonl")
        else:
            try:
                seeds = load_seeds(
                    args.seeds, names=args.seed_names.split(",") if args.seed_names else None
                )
            except SeedError as exc:
                _err(f"error: {exc}")
                return 1
            instances, skipped = make_instances(
                seeds, args.n, settings=settings, global_seed=args.seed, log=_err
            )
            if not instances:
                _err("error: no seed gave an acceptable instance (see the messages above)")
                return 1
            if grow:
                mismatch = _grow_mismatch(out, instances)
                if mismatch:
                    _err(
                        f"error: {out} holds a run whose instances differ from the ones drawn "
                        f"now ({mismatch}); start over with --fresh, or use another --out"
                    )
                    return 2
            if not args.batch_export:
                out.mkdir(parents=True, exist_ok=True)
                write_instances(instances, out / "instances.jsonl")
                (out / RUN_FILE).write_text(
                    json.dumps(_run_options(args), indent=2) + "\n", encoding="utf-8"
                )
        texts = None
        if args.batch_export:
            from agent.llm import OpenAIChatModel

            write_instances(instances, out / "instances.jsonl")
            llm = OpenAIChatModel(
                **{k: v for k, v in {"model": args.model, "base_url": args.base_url}.items() if v}
            )
            count = export_batch(instances, llm, Path(args.batch_export))
            print(
                f"{len(instances)} instances in {out / 'instances.jsonl'}; {count} "
                f"back-translation requests in {args.batch_export}. After the batch: "
                f"optiwise synth --out {out} --model {args.model} --batch-import OUTPUT.jsonl"
            )
            return 0
    llm_obj = None
    agent = None
    index = None
    if needs_llm:
        from agent.api import OptimizationAgent
        from agent.llm import OpenAIChatModel

        llm_obj = OpenAIChatModel(
            **{k: v for k, v in {"model": args.model, "base_url": args.base_url}.items() if v}
        )
        agent = OptimizationAgent(
            model=args.forward_model or args.model,
            base_url=args.base_url,
            max_repairs=args.max_repairs,
            time_limit=args.time_limit,
            examples=args.examples,
        )
        if not args.no_dedup:
            from evals.synth.dedup import BenchmarkIndex

            index = BenchmarkIndex.from_registry(data_dir=args.data_dir)
            _err(
                f"dedup against {len(index.variants)} registered variant(s) present "
                f"({len(index.problems)} problems)"
            )
    executor = None
    if agent is not None and args.executor != "local":
        from evals.executors import RayUnavailable, make_executor

        try:
            executor = make_executor(
                args.executor, agent, workers=args.workers, ray_address=args.ray_address
            )
        except (RayUnavailable, ValueError) as exc:
            _err(f"error: {exc}")
            return 2
    try:
        report = asyncio.run(
            run_synthesis(
                instances,
                out,
                settings=settings,
                model=args.model or "",
                forward_model=args.forward_model or args.model or "",
                dataset=args.name,
                llm=llm_obj,
                agent=agent,
                index=index,
                texts=texts,
                backtranslate_texts=needs_llm,
                concurrency=args.concurrency,
                skipped_seeds=skipped,
                log=_err,
                executor=executor,
                # the journal only counts for these very instances (read back, not redrawn)
                resume=resume and not args.fresh,
            )
        )
    finally:
        if executor is not None:
            executor.close()
    print(report.summary())
    return 0 if report.accepted or report.hard else 1
