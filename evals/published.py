"""Accuracy figures published by other projects, for reports that put ours beside them.

Every number was copied (each table names its ``source``) from the projects'
READMEs, repository images or the LLM4OR
survey PDF.  They are *not* directly comparable with our runs, nor with each
other: the label versions differ (``variant`` says which one was used, where
known), the scoring rules differ (``protocol``), and several cells were
copied from other papers (``copied``).  Values are percentages.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedFigure:
    """One published accuracy cell."""

    source: str
    model: str
    family: str
    value: float
    protocol: str
    variant: str = ""
    copied: bool = False
    note: str = ""


@dataclass(frozen=True)
class _Table:
    source: str
    protocol: str
    columns: tuple[tuple[str, str], ...]  # (family, variant used)
    rows: tuple[tuple[str, str], ...]  # (model, "v1 v2 ..."; "-" = empty, "*" = copied)
    note: str = ""


_TABLES = (
    _Table(
        source="OptMATH README, Table 1 (assets/main_results.png)",
        protocol="optmath",
        columns=(
            ("nl4opt", "nl4opt.optmath"),
            ("mamo_easy", "mamo_easy.optmath"),
            ("mamo_complex", "mamo_complex.optmath"),
            ("optmath", "optmath.official"),
            ("industryor", ""),
            ("optibench", ""),
        ),
        rows=(
            ("Llama3.1-8B", "0.0 0.2 0.0 0.0 0.0 0.0"),
            ("Qwen2.5-7B", "86.9 83.6 21.8 1.6 10.0 36.2"),
            ("GPT-3.5-turbo", "78.0 79.3 33.2 15.0 21.0 47.4"),
            ("GPT-4", "89.0 87.3 49.3 16.6 33.3 68.6"),
            ("DeepSeek-V3", "95.9 88.3 51.1 32.6 37.0 71.6"),
            ("OptiMUS (GPT-4o-2024-05-13)", "78.8 77.0 43.6 20.2 31.0 45.8"),
            ("Qwen2.5-32B", "92.7 82.2 44.6 9.3 16.0 47.6"),
            ("ORLM-Llama-3-8B (reported)", "85.7 82.3 37.4 - 38.0 -"),
            ("ORLM-Llama-3-8B (reproduced)", "84.5 74.9 34.1 2.6 24.0 51.1"),
            ("OptMATH-Llama3.1-8B", "55.5 73.9 40.8 24.4 18.0 55.5"),
            ("OptMATH-Qwen2.5-7B", "94.7 86.5 51.2 24.4 20.0 57.9"),
            ("OptMATH-Qwen2.5-32B", "95.9 89.9 54.1 34.7 31.0 66.1"),
            ("OptMATH-Llama3.1-8B pass@8", "97.6 94.2 71.6 51.6 37.0 66.6"),
            ("OptMATH-Qwen2.5-7B pass@8", "98.4 94.5 72.5 56.0 38.0 68.1"),
            ("OptMATH-Qwen2.5-32B pass@8", "97.9 93.9 75.4 67.4 47.0 76.8"),
        ),
        note="pass@1 unless stated; the conversion fallback is on by default",
    ),
    _Table(
        source="SIRL README (pass@1)",
        protocol="sirl",
        columns=(
            ("nl4opt", "nl4opt.sirl"),
            ("mamo_easy", "mamo_easy.sirl_fixed"),
            ("mamo_complex", "mamo_complex.sirl_fixed"),
            ("industryor", ""),
            ("optmath", "optmath.official"),
            ("optibench", "optibench.sirl"),
        ),
        rows=(
            ("GPT-4", "89.0* 87.3* 49.3* 33.0* 16.6* 68.6*"),
            ("DeepSeek-V3", "95.9* 88.3* 50.2 37.0* 44.0 71.6*"),
            ("DeepSeek-R1", "82.4 87.2 67.9 45.0 40.4 66.4"),
            ("OpenAI-o3", "69.4 77.1 51.2 44.0 44.0 58.6"),
            ("OptiMUS", "78.8* 77.0* 43.6* 31.0* 20.2* 45.8*"),
            ("ORLM-LLaMA-3-8B", "85.7* 82.3* 37.4* 24.0* 2.6* 51.1*"),
            ("LLMOpt-Qwen2.5-14B", "80.3* 89.5* 44.1* 29.0* 12.5* 53.8*"),
            ("OptMATH-Qwen2.5-7B", "94.7* 86.5* 40.8 20.0* 24.4* 57.9*"),
            ("OptMATH-Qwen2.5-32B", "95.9 89.9 54.1 31.0 34.7 66.1"),
            ("SIRL-Qwen2.5-7B-Gurobi", "96.3* 91.7 51.7 38.0 30.5 58.0"),
            ("SIRL-Qwen2.5-32B-Gurobi", "98.0 94.6 61.1 48.0 45.8 67.4"),
            ("SIRL-Qwen2.5-7B-COPT", "95.1 92.1 53.1 35.0 29.5 58.3"),
            ("SIRL-Qwen2.5-32B-COPT", "98.4 94.7 72.4 46.0 39.8 64.1"),
        ),
        note=(
            "header says 'fixed' MAMO, but starred cells were copied from papers that used the "
            "unfixed sets; the reproduce notebooks load MAMO_EasyLP.json and IndustryOR_fixed.json"
        ),
    ),
    _Table(
        source="LLMOPT README (2025-04), SA with self-correction",
        protocol="unstated",
        columns=(
            ("nl4opt", "nl4opt.llmopt"),
            ("mamo_easy", "mamo_easy.llmopt"),
            ("mamo_complex", "mamo_complex.llmopt"),
            ("nlp4lp", "nlp4lp.llmopt"),
            ("complexor", "complexor.llmopt"),
            ("industryor", "industryor.llmopt"),
            ("icml2024_task3", "icml2024_task3.llmopt"),
            ("optibench", "optibench.llmopt"),
            ("optmath", "optmath.official"),
        ),
        rows=(
            ("LLMOPT-Qwen2.5-14B", "97.31 95.31 85.78 86.49 76.47 44.00 95.76 66.44 40.00"),
            (
                "LLMOPT-Qwen2.5-14B w/o self-correction",
                "80.28 89.53 44.08 73.42 35.29 29.00 75.35 53.83 12.50",
            ),
        ),
        note="tolerance not stated; labels rounded to 2 decimals",
    ),
    _Table(
        source="ORLM README",
        protocol="orlm",
        columns=(
            ("nl4opt", "nl4opt.orlm_hf_2024"),
            ("mamo_easy", "mamo_easy.original"),
            ("mamo_complex", "mamo_complex.original"),
            ("industryor", "industryor.orlm_v1"),
        ),
        rows=(
            ("tag-BART", "47.9* - - -"),
            ("GPT-3.5 Standard", "42.4* - - -"),
            ("GPT-3.5 Reflexion", "50.7* - - -"),
            ("GPT-3.5 Chain-of-Experts", "58.9* - - -"),
            ("GPT-4 Standard", "47.3* 66.5* 14.6* 28.0"),
            ("GPT-4 Reflexion", "53.0* - - -"),
            ("GPT-4 Chain-of-Experts", "64.2* - - -"),
            ("GPT-4 OptiMUS", "78.8* - - -"),
            ("ORLM-Mistral-7B", "84.4 81.4 32.0 27.0"),
            ("ORLM-Deepseek-Math-7B-Base", "86.5 82.2 37.9 33.0"),
            ("ORLM-LLaMA-3-8B", "85.7 82.3 37.4 38.0"),
        ),
    ),
    _Table(
        source="LLM4OR survey (arXiv 2508.10047), cleaned benchmarks",
        protocol="unstated",
        columns=(
            ("nl4opt", "nl4opt.llm4or_clean"),
            ("industryor", "industryor.llm4or_clean"),
            ("mamo_easy", "mamo_easy.llm4or_clean"),
            ("mamo_complex", "mamo_complex.llm4or_clean"),
            ("nlp4lp", "nlp4lp.llm4or_clean"),
            ("optibench", "optibench.llm4or_clean"),
            ("complexor", ""),
        ),
        rows=(
            ("gpt-4o Standard", "61.2 38.1 70.3 57.7 73.6 48.4 42.9"),
            ("gpt-4o CoT", "62.2 40.5 49.5 42.3 74.7 43.6 39.2"),
            ("gpt-4o Chain-of-Experts", "66.7 31.2 94.4 50.6 87.4 71.2 57.1"),
            ("gpt-4o CAFA", "68.1 41.1 71.2 44.5 50.0 40.1 46.4"),
            ("ORLM-LLaMA-3-8B", "73.8 42.9 90.4 59.5 76.4 61.8 50.0"),
        ),
        note="training-free methods use gpt-4o-2024-08-06",
    ),
    _Table(
        source="ReSocratic README, OptiBench 'All'",
        protocol="resocratic (all keys within 1e-4)",
        columns=(("optibench", "optibench.resocratic"),),
        rows=(
            ("GPT-4o zero-shot", "66.1"),
            ("GPT-4 zero-shot", "62.8"),
            ("DeepSeek-V2.5 zero-shot", "62.5"),
            ("Llama-3-70B zero-shot", "59.5"),
            ("GPT-3.5-Turbo zero-shot", "49.1"),
            ("GPT-4o few-shot", "69.4"),
            ("DeepSeek-V2.5 few-shot", "67.3"),
            ("GPT-4 few-shot", "65.5"),
            ("Llama-3-70B few-shot", "62.5"),
            ("GPT-3.5-Turbo few-shot", "56.4"),
            ("Llama-3-8B-Instruct SFT on ReSocratic-29k", "51.1"),
        ),
    ),
    _Table(
        source="Evo-Step test/results.out (model not named)",
        protocol="unstated",
        columns=(
            ("nl4opt", ""),
            ("mamo_easy", "mamo_easy.original"),
            ("mamo_complex", ""),
            ("industryor", ""),
        ),
        rows=(("Evo-Step (unnamed model)", "84.5 85.3 61.9 36.4"),),
        note="NL4OPT 207/245, EasyLP 556/652, ComplexLP 130/210, IndustryOR 28/77",
    ),
    _Table(
        source="MIPLIB-NL paper (ICML 2026, arXiv 2602.10450), pass@1",
        protocol="miplib_nl",
        columns=(("miplib_nl", "miplib_nl.full"),),
        rows=(
            ("GPT-5.1", "39.05"),
            ("Gemini-3-Pro", "36.19"),
            ("Claude-Sonnet-4.5 (thinking)", "30.00"),
            ("DeepSeek-V3.2", "23.81"),
        ),
        note=(
            "full release (223 instances), relative error 1e-6, temperature 0.6; average over "
            "the paper's models 17.85, "
            "fine-tuned modeling models 0-5.5; execution failures average 47.6%"
        ),
    ),
)

# Rows shown by default next to our runs: one strong general model per source
# and each project's own best model.
HIGHLIGHTS = frozenset(
    {
        ("OptMATH README, Table 1 (assets/main_results.png)", "GPT-4"),
        ("OptMATH README, Table 1 (assets/main_results.png)", "DeepSeek-V3"),
        ("OptMATH README, Table 1 (assets/main_results.png)", "OptMATH-Qwen2.5-32B"),
        ("SIRL README (pass@1)", "DeepSeek-R1"),
        ("SIRL README (pass@1)", "OpenAI-o3"),
        ("SIRL README (pass@1)", "SIRL-Qwen2.5-32B-Gurobi"),
        ("LLMOPT README (2025-04), SA with self-correction", "LLMOPT-Qwen2.5-14B"),
        ("ORLM README", "ORLM-LLaMA-3-8B"),
        ("LLM4OR survey (arXiv 2508.10047), cleaned benchmarks", "gpt-4o Standard"),
        ("ReSocratic README, OptiBench 'All'", "GPT-4o few-shot"),
        ("MIPLIB-NL paper (ICML 2026, arXiv 2602.10450), pass@1", "GPT-5.1"),
    }
)


def _expand() -> tuple[PublishedFigure, ...]:
    figures: list[PublishedFigure] = []
    for table in _TABLES:
        for model, cells in table.rows:
            values = cells.split()
            if len(values) != len(table.columns):
                raise ValueError(f"{table.source} / {model}: {len(values)} cells")
            for (family, variant), cell in zip(table.columns, values, strict=True):
                if cell == "-":
                    continue
                figures.append(
                    PublishedFigure(
                        source=table.source,
                        model=model,
                        family=family,
                        value=float(cell.rstrip("*")),
                        protocol=table.protocol,
                        variant=variant,
                        copied=cell.endswith("*"),
                        note=table.note,
                    )
                )
    return tuple(figures)


FIGURES: tuple[PublishedFigure, ...] = _expand()


def figures(
    families: set[str] | None = None, *, highlights_only: bool = False
) -> list[PublishedFigure]:
    """Published figures, optionally only for some dataset families or highlight rows."""
    return [
        f
        for f in FIGURES
        if (families is None or f.family in families)
        and (not highlights_only or (f.source, f.model) in HIGHLIGHTS)
    ]
