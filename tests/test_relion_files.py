"""job.star and default_pipeline.star: written as RELION writes them, read back exactly."""

from __future__ import annotations

from pathlib import Path

from py2rely_core.relion_files import (
    JobStar,
    PipelineFile,
    parse_star_text,
    read_job_star,
    read_pipeline,
    render_job_star,
    render_pipeline,
)

# A default_pipeline.star exactly as relion_pipeliner 5.1 wrote it (whitespace and all).
RELION_PIPELINE = Path(__file__).parent / "fixtures" / "relion" / "default_pipeline.star"


def test_relion_written_pipeline_is_read():
    pipeline = read_pipeline(RELION_PIPELINE)
    assert pipeline.job_counter == 2
    assert [(p.name, p.alias, p.type_label, p.status) for p in pipeline.processes] == [
        ("Select/job001/", "None", "relion.select.removeduplicates", "Scheduled")]
    assert pipeline.nodes["Select/job001/particles.star"] == ("ParticleGroupMetadata.star.relion", 1)
    assert pipeline.input_edges == [("Refine3D/job001/run_data.star", "Select/job001/")]
    assert pipeline.output_edges == [("Select/job001/", "Select/job001/particles.star")]


def test_pipeline_round_trip_and_empty_tables_are_not_written(tmp_path):
    pipeline = PipelineFile(job_counter=4)
    pipeline.add_process("Reconstruct/job003/", "relion.reconstructparticletomo", "Running",
                         {"Extract/job002/particles.star": "ParticleGroupMetadata.star.relion"},
                         {"Reconstruct/job003/half1.mrc": "DensityMap.mrc.relion.tomo.halfmap.reconstruct"})
    pipeline.set_status("Reconstruct/job003/", "Succeeded")
    text = render_pipeline(pipeline)
    assert "data_pipeline_processes" in text and text.count("# version 50001") == 5
    path = tmp_path / "p.star"
    path.write_text(text)
    again = read_pipeline(path)
    assert again == pipeline
    assert again.nodes["Reconstruct/job003/half1.mrc"][1] == 99  # RELION's depth for half maps
    assert "data_pipeline_nodes" not in render_pipeline(PipelineFile())


def test_job_star_keeps_values_exactly_and_quotes_blanks(tmp_path):
    job = JobStar("relion.refine3d.tomo", True, {
        "sampling": "7.5 degrees", "other_args": "", "ini_high": "40.0", "fn_mask": "",
        "offset_step": "1", "do_queue": "No",
    })
    text = render_job_star(job)
    assert '"7.5 degrees"' in text
    assert any(line.split() == ["other_args", '""'] for line in text.splitlines())
    assert "_rlnJobIsTomo" in text
    rows = [line.split() for line in text.splitlines()
            if line.strip() and not line.startswith(("#", "_", "data", "loop"))]
    names = [row[0] for row in rows if len(row) == 2]
    assert names == sorted(names)  # RELION's std::map order
    path = tmp_path / "job.star"
    path.write_text(text)
    assert read_job_star(path) == job


def test_star_parser_handles_quotes_and_comments():
    blocks = parse_star_text('data_x\n_a 1\n_b "two words" # comment\nloop_\n')
    assert blocks["x"].pairs == {"a": "1", "b": "two words"}
