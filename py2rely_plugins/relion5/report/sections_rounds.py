"""The bin-1 rounds: resolution per round, CtfRefine defocus changes, polishing motion."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.report import collect as data
from py2rely_plugins.relion5.report import page
from py2rely_plugins.relion5.report.artifacts import IMAGE_DIR, SectionContext, image_name


def polishing(ctx: SectionContext) -> str:
    ctf_jobs = ctx.project.of_type(labels.CTF_REFINE)
    if not ctf_jobs:
        return ""
    from py2rely_plugins.relion5.report import plots

    number = data._job_number
    posts = ctx.project.succeeded(labels.POSTPROCESS)
    baseline = [p for p in posts if number(p.job_dir) < number(ctf_jobs[0].job_dir)]
    rounds: list[tuple[str, float]] = []
    if baseline and baseline[-1].resolution:
        rounds.append(("before", baseline[-1].resolution))
    for index, ctf in enumerate(ctf_jobs, start=1):
        after = [p for p in posts if number(p.job_dir) > number(ctf.job_dir)]
        if after and after[0].resolution:
            rounds.append((f"round {index}", after[0].resolution))
    items, rows = [], []
    if len(rounds) > 1:
        items.append(ctx.picture(
            f"{IMAGE_DIR}/rounds.svg", [ctx.root / p.job_dir / "postprocess.star" for p in posts],
            lambda tmp: plots.line_plot([r[0] for r in rounds], [("post-processed", [r[1] for r in rounds])],
                                        "bin-1 round", "resolution (Å)", tmp, invert=True),
            "Resolution per bin-1 round (CTF refinement, polishing, re-extraction, refinement)."))
    for ctf in ctf_jobs:
        changes = defocus_changes(ctx.root, ctf.job_dir)
        if changes is None:
            continue
        rows.append([page.esc(ctf.job_dir), str(len(changes)),
                     page.number(float(np.mean(changes)), "{:+.0f}", " Å"),
                     page.number(float(np.max(np.abs(changes))) if len(changes) else None, "{:.0f}", " Å")])
        items.append(ctx.picture(
            image_name(ctf.job_dir, "defocus", "svg"), [ctx.root / ctf.job_dir / "tomograms.star"],
            lambda tmp, c=changes, j=ctf.job_dir: plots.defocus_plot(c, f"{j}: per-tilt ΔDefocusU", tmp),
            f"Defocus change of every tilt by {page.esc(ctf.job_dir)} (refined − input)."))
    for polish in ctx.project.succeeded(labels.POLISH):
        motion = motion_magnitudes(ctx.root / polish.job_dir / "motion.star")
        if motion is not None and len(motion):
            items.append(ctx.picture(
                image_name(polish.job_dir, "motion", "svg"), [ctx.root / polish.job_dir / "motion.star"],
                lambda tmp, m=motion, j=polish.job_dir: plots.histograms(
                    [("mean per-tilt shift (Å)", m, f"{j}: particle motion")], tmp),
                f"Polishing ({page.esc(polish.job_dir)}): mean per-tilt shift of each particle's "
                "trajectory."))
    body = ""
    if rows:
        body += page.table(("CtfRefine job", "tilts", "mean ΔDefocusU", "largest |Δ|"), rows,
                           numeric=(1, 2, 3))
    return page.section("bin1", "Bin-1 rounds: CTF refinement and polishing", body + page.figures(items))


def defocus_changes(root: Path, job_dir: str) -> np.ndarray | None:
    """Per-tilt DefocusU change made by a CtfRefine job (its tomograms.star against its input's)."""
    from py2rely_core.relion_files import read_job_star

    try:
        before_path = read_job_star(root / job_dir / "job.star").options.get("in_tomograms", "")
        before = _tilt_defocus(root, Path(before_path))
        after = _tilt_defocus(root, root / job_dir / "tomograms.star")
    except Exception:
        return None
    changes = [after[name] - before[name] for name in after if name in before
               and len(after[name]) == len(before[name])]
    return np.concatenate(changes) if changes else None


def _tilt_defocus(root: Path, tomograms: Path) -> dict[str, np.ndarray]:
    from py2rely_core.star import read_star

    path = tomograms if tomograms.is_absolute() else root / tomograms
    table = read_star(path)["global"]
    found = {}
    for _, row in table.iterrows():
        series = Path(str(row["rlnTomoTiltSeriesStarFile"]).replace("//", "/"))
        series = series if series.is_absolute() else root / series
        blocks = read_star(series)
        block = blocks.get(str(row["rlnTomoName"]))
        if block is None:
            block = next(iter(blocks.values()))
        found[str(row["rlnTomoName"])] = block["rlnDefocusU"].astype(float).to_numpy()
    return found


MOTION_BLOCK_LIMIT = 2000  # particles read from a motion.star (enough for a histogram)


def motion_magnitudes(path: Path) -> np.ndarray | None:
    """Mean per-tilt shift (Å) of each particle trajectory in a Polish job's motion.star."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    magnitudes, rows, in_block, blocks = [], [], False, 0
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("data_"):
            if rows:
                magnitudes.append(float(np.mean(np.linalg.norm(np.array(rows), axis=1))))
                rows = []
            in_block = stripped != "data_general"
            blocks += 1
            if blocks > MOTION_BLOCK_LIMIT:
                break
            continue
        if in_block and stripped and not stripped.startswith(("_", "loop_", "#")):
            try:
                rows.append([float(v) for v in stripped.split()[:3]])
            except ValueError:
                continue
    if rows:
        magnitudes.append(float(np.mean(np.linalg.norm(np.array(rows), axis=1))))
    return np.array(magnitudes)
