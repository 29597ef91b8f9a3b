"""The two bookkeeping files of a RELION project, read and written as RELION 5 does.

``job.star`` (one per job directory: the job's type and options) and ``default_pipeline.star``
(the project's job counter, processes, nodes and edges). Values are kept as the exact strings
RELION stores, because a job's options are part of its identity.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

STAR_VERSION = "# version 50001"
PIPELINE_FILE = "default_pipeline.star"

# Process status labels as RELION 5 writes them (pipeline_jobs.h).
RUNNING, SCHEDULED, SUCCEEDED, FAILED, ABORTED = (
    "Running", "Scheduled", "Succeeded", "Failed", "Aborted")
STATUSES = (RUNNING, SCHEDULED, SUCCEEDED, FAILED, ABORTED)


# ---------------------------------------------------------------------------------------------
# A small STAR reader that keeps every value as the string written in the file


@dataclass
class StarBlock:
    name: str
    pairs: dict[str, str] = field(default_factory=dict)  # list-style block
    columns: list[str] = field(default_factory=list)  # loop-style block
    rows: list[list[str]] = field(default_factory=list)

    def records(self) -> list[dict[str, str]]:
        return [dict(zip(self.columns, row, strict=False)) for row in self.rows]


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


def parse_star_text(text: str, source: str = "<text>") -> dict[str, StarBlock]:
    """Blocks by name (without ``data_``); values are strings (quotes removed)."""
    blocks: dict[str, StarBlock] = {}
    block: StarBlock | None = None
    in_loop = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("data_"):
            block = StarBlock(name=line[5:])
            blocks[block.name] = block
            in_loop = False
            continue
        if block is None:
            raise ValueError(f"{source}, line {number}: value outside a data_ block")
        if line.startswith("loop_"):
            in_loop = True
            continue
        try:
            words = _tokens(line)
        except ValueError as exc:
            raise ValueError(f"{source}, line {number}: {exc}") from None
        if not words:
            continue
        if words[0].startswith("_"):
            label = words[0][1:]
            if in_loop and not block.rows:
                block.columns.append(label)
            else:
                in_loop = False
                block.pairs[label] = words[1] if len(words) > 1 else ""
        elif in_loop:
            block.rows.append(words)
        else:
            raise ValueError(f"{source}, line {number}: unexpected {line!r}")
    return blocks


def format_value(value: object) -> str:
    text = str(value)
    if text == "":
        return '""'
    if any(ch.isspace() for ch in text) or text.startswith(("_", "#", "'", '"')):
        return f'"{text}"'
    return text


def _list_block(name: str, pairs: Iterable[tuple[str, object]]) -> str:
    items = list(pairs)
    width = max((len(label) for label, _ in items), default=0) + 1
    lines = ["", STAR_VERSION, "", f"data_{name}", ""]
    lines += [f"_{label:<{width}} {format_value(value):>12}" for label, value in items]
    lines += [" ", ""]
    return "\n".join(lines)


def _loop_block(name: str, columns: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    rows = [list(row) for row in rows]
    if not rows:
        return ""  # RELION does not write empty tables
    lines = ["", STAR_VERSION, "", f"data_{name}", "", "loop_ "]
    lines += [f"_{column} #{index} " for index, column in enumerate(columns, start=1)]
    lines += [" ".join(format_value(value) for value in row) + " " for row in rows]
    lines += [" ", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# job.star


@dataclass(frozen=True)
class JobStar:
    type_label: str
    is_tomo: bool
    options: dict[str, str]
    is_continue: bool = False


def render_job_star(job: JobStar) -> str:
    head = _list_block("job", [
        ("rlnJobTypeLabel", job.type_label),
        ("rlnJobIsContinue", int(job.is_continue)),
        ("rlnJobIsTomo", int(job.is_tomo)),
    ])
    # RELION keeps options in a std::map, so they are written sorted by name.
    options = _loop_block(
        "joboptions_values", ["rlnJobOptionVariable", "rlnJobOptionValue"],
        sorted(job.options.items()),
    )
    return head + options


def read_job_star(path: str | Path) -> JobStar:
    blocks = parse_star_text(Path(path).read_text(encoding="utf-8"), str(path))
    if "job" not in blocks:
        raise ValueError(f"{path}: no data_job block")
    head = blocks["job"].pairs
    values = blocks.get("joboptions_values")
    options = {}
    if values is not None:
        for record in values.records():
            options[record["rlnJobOptionVariable"]] = record.get("rlnJobOptionValue", "")
    return JobStar(
        type_label=head.get("rlnJobTypeLabel", ""),
        is_tomo=head.get("rlnJobIsTomo", "0") == "1",
        is_continue=head.get("rlnJobIsContinue", "0") == "1",
        options=options,
    )


# ---------------------------------------------------------------------------------------------
# default_pipeline.star


@dataclass
class Process:
    name: str  # "Refine3D/job005/"
    type_label: str
    status: str
    alias: str = "None"


@dataclass
class PipelineFile:
    job_counter: int = 1
    processes: list[Process] = field(default_factory=list)
    nodes: dict[str, tuple[str, int]] = field(default_factory=dict)  # path -> (type, depth)
    input_edges: list[tuple[str, str]] = field(default_factory=list)  # (node, process)
    output_edges: list[tuple[str, str]] = field(default_factory=list)  # (process, node)

    def process(self, name: str) -> Process | None:
        for process in self.processes:
            if process.name == name:
                return process
        return None

    def add_process(
        self, name: str, type_label: str, status: str,
        inputs: Mapping[str, str], outputs: Mapping[str, str],
    ) -> None:
        """Add (or replace) a process with its input and output nodes (path -> type label)."""
        self.remove_process(name)
        self.processes.append(Process(name=name, type_label=type_label, status=status))
        for path, label in inputs.items():
            self.nodes.setdefault(path, (label, 1))
            self.input_edges.append((path, name))
        for path, label in outputs.items():
            # RELION marks the Reconstruct half map with depth 99 so it is not offered everywhere.
            depth = 99 if label.endswith(".halfmap.reconstruct") else 1
            self.nodes[path] = (label, depth)
            self.output_edges.append((name, path))

    def remove_process(self, name: str) -> None:
        self.processes = [p for p in self.processes if p.name != name]
        self.input_edges = [e for e in self.input_edges if e[1] != name]
        self.output_edges = [e for e in self.output_edges if e[0] != name]

    def set_status(self, name: str, status: str) -> None:
        process = self.process(name)
        if process is None:
            raise KeyError(f"{name} is not in {PIPELINE_FILE}")
        process.status = status


def render_pipeline(pipeline: PipelineFile) -> str:
    parts = [
        _list_block("pipeline_general", [("rlnPipeLineJobCounter", pipeline.job_counter)]),
        _loop_block(
            "pipeline_processes",
            ["rlnPipeLineProcessName", "rlnPipeLineProcessAlias", "rlnPipeLineProcessTypeLabel",
             "rlnPipeLineProcessStatusLabel"],
            [(p.name, p.alias, p.type_label, p.status) for p in pipeline.processes],
        ),
        _loop_block(
            "pipeline_nodes",
            ["rlnPipeLineNodeName", "rlnPipeLineNodeTypeLabel", "rlnPipeLineNodeTypeLabelDepth"],
            [(path, label, depth) for path, (label, depth) in pipeline.nodes.items()],
        ),
        _loop_block("pipeline_input_edges", ["rlnPipeLineEdgeFromNode", "rlnPipeLineEdgeProcess"],
                    pipeline.input_edges),
        _loop_block("pipeline_output_edges", ["rlnPipeLineEdgeProcess", "rlnPipeLineEdgeToNode"],
                    pipeline.output_edges),
    ]
    return "".join(parts)


class PipelineDamaged(ValueError):
    """default_pipeline.star exists but cannot be what RELION wrote (empty, truncated, garbage)."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


# The tables of default_pipeline.star and the columns every row must have.
_PIPELINE_TABLES = {
    "pipeline_processes": ("rlnPipeLineProcessName",),
    "pipeline_nodes": ("rlnPipeLineNodeName",),
    "pipeline_input_edges": ("rlnPipeLineEdgeFromNode", "rlnPipeLineEdgeProcess"),
    "pipeline_output_edges": ("rlnPipeLineEdgeProcess", "rlnPipeLineEdgeToNode"),
}


def _check_pipeline(blocks: dict[str, StarBlock], path: Path) -> None:
    general = blocks.get("pipeline_general")
    counter = general.pairs.get("rlnPipeLineJobCounter", "") if general else ""
    if not counter.isdigit():
        raise PipelineDamaged(path, "no job counter (rlnPipeLineJobCounter in data_pipeline_general)")
    for name, required in _PIPELINE_TABLES.items():
        block = blocks.get(name)
        if block is None:
            continue
        missing = [column for column in required if column not in block.columns]
        if missing:
            raise PipelineDamaged(path, f"table {name} has no column {missing[0]}")
        for row in block.rows:
            if len(row) != len(block.columns):
                raise PipelineDamaged(path, f"table {name} has a row of {len(row)} values for "
                                            f"{len(block.columns)} columns ({' '.join(row)[:60]})")


def read_pipeline(path: str | Path) -> PipelineFile:
    """The pipeline; an empty one when the file does not exist (a new project). Raises
    PipelineDamaged when the file is there but is not a whole pipeline."""
    path = Path(path)
    if not path.exists():
        return PipelineFile()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PipelineDamaged(path, "not a text file") from None
    if not text.strip():
        raise PipelineDamaged(path, "the file is empty")
    try:
        blocks = parse_star_text(text, str(path))
    except ValueError as exc:
        raise PipelineDamaged(path, str(exc).removeprefix(f"{path}, ")) from None
    _check_pipeline(blocks, path)
    pipeline = PipelineFile(job_counter=int(blocks["pipeline_general"].pairs["rlnPipeLineJobCounter"]))
    if "pipeline_processes" in blocks:
        for record in blocks["pipeline_processes"].records():
            pipeline.processes.append(Process(
                name=record["rlnPipeLineProcessName"],
                alias=record.get("rlnPipeLineProcessAlias", "None"),
                type_label=record.get("rlnPipeLineProcessTypeLabel", ""),
                status=record.get("rlnPipeLineProcessStatusLabel", ""),
            ))
    if "pipeline_nodes" in blocks:
        for record in blocks["pipeline_nodes"].records():
            depth = record.get("rlnPipeLineNodeTypeLabelDepth", "1")
            pipeline.nodes[record["rlnPipeLineNodeName"]] = (
                record.get("rlnPipeLineNodeTypeLabel", ""), int(depth) if depth.isdigit() else 1)
    if "pipeline_input_edges" in blocks:
        pipeline.input_edges = [
            (r["rlnPipeLineEdgeFromNode"], r["rlnPipeLineEdgeProcess"])
            for r in blocks["pipeline_input_edges"].records()
        ]
    if "pipeline_output_edges" in blocks:
        pipeline.output_edges = [
            (r["rlnPipeLineEdgeProcess"], r["rlnPipeLineEdgeToNode"])
            for r in blocks["pipeline_output_edges"].records()
        ]
    return pipeline
