import json
import os

import pytest

from py2rely_core.errors import ParameterError
from py2rely_plugins.relion5.conventions import OVERSAMPLING, healpix_order
from py2rely_plugins.relion5.sta.params import (
    SCHEMA_VERSION,
    build_parameters,
    dump_parameters,
    load_parameters,
    local_sampling,
    odd_ranks_for_refinement,
    parse_binning_list,
    sampling_for_pixel,
    save_parameters,
)


def guide_parameters(**overrides):
    options = dict(
        tilt_series="ts.star", particles="p.star", tilt_series_pixel_size=1.54, symmetry="C1",
        low_pass=50, diameter=290, denovo=False, box_scaling=1.75, binning_list=[4, 2, 1],
        threads=8, processes=4,
    )
    options.update(overrides)
    return build_parameters(**options)


def test_round_trip_keeps_every_value(tmp_path):
    params = guide_parameters()
    path = tmp_path / "p.json"
    save_parameters(params, path)
    assert load_parameters(path) == params
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert [s["box"] for s in data["binnings"]] == [84, 168, 352]
    assert data["binnings"][2]["extract_box"] == 540


def test_local_searches_start_one_step_above_the_nyquist_angle_and_stop_at_it():
    params = guide_parameters()  # 1.54 Å/px, 290 Å: Nyquist angles 2.43°, 1.22°, 0.61°
    first, second, third = params.binnings
    # Global search when angles are unknown: a 30° first pass, oversampled to 15°.
    assert first.refine3d.sampling == "15 degrees"
    assert healpix_order(first.refine3d.sampling) - OVERSAMPLING == 1
    # Local searches: one menu step above the Nyquist angle's (3.7° at bin 4), first pass at twice.
    assert first.refine3d.auto_local_sampling == "7.5 degrees"
    assert healpix_order(first.refine3d.auto_local_sampling) - OVERSAMPLING == 2
    # Fine enough once RELION's first-pass step is below 2.2 × the Nyquist step.
    assert first.refine3d.max_angular_step == pytest.approx(2.2 * 3.7)
    assert first.refine3d.ini_high == 50
    assert second.refine3d.sampling == second.refine3d.auto_local_sampling == "3.7 degrees"
    assert second.refine3d.max_angular_step == pytest.approx(2.2 * 1.8)
    assert third.refine3d.sampling == "1.8 degrees"
    assert second.refine3d.ini_high is None


def test_small_particles_at_high_binning_still_search_locally_at_7_5_degrees():
    params = guide_parameters(tilt_series_pixel_size=2.5, diameter=160, box_scaling=1.5,
                              binning_list=[4, 2])  # Nyquist angles 7.1° and 3.6°
    first, second = params.binnings
    assert first.refine3d.auto_local_sampling == second.refine3d.auto_local_sampling == "7.5 degrees"
    assert first.refine3d.max_angular_step == second.refine3d.max_angular_step == pytest.approx(8.14)


def test_sampling_follows_the_nyquist_angle():
    assert sampling_for_pixel(6.16, 290) == 3.7  # atan(12.32/290) = 2.43°
    assert sampling_for_pixel(3.08, 290) == 1.8
    assert sampling_for_pixel(1.54, 290) == 0.9
    assert local_sampling(6.16, 290) == 7.5
    assert local_sampling(1.54, 290) == 1.8
    assert local_sampling(20.0, 100) == 7.5  # never coarser than COARSEST_LOCAL_SAMPLING


@pytest.mark.parametrize(("processes", "ranks"), [(1, 3), (2, 3), (3, 3), (4, 3), (5, 5), (8, 7)])
def test_refinement_ranks_are_odd_and_at_least_3(processes, ranks):
    assert odd_ranks_for_refinement(processes) == ranks


def test_missing_processes_means_the_machines_cores():
    params = guide_parameters(processes=None)
    assert params.compute.processes == os.cpu_count()
    assert params.compute.processes_source == "machine"


def test_every_prepare_option_reaches_the_file():
    params = guide_parameters(symmetry="d2", low_pass=40, denovo=True, threads=3, processes=6)
    assert params.inputs.tilt_series == "ts.star" and params.inputs.particles == "p.star"
    assert params.inputs.tilt_series_pixel_size == 1.54
    assert params.particle.symmetry == "D2" and params.particle.low_pass == 40
    assert params.particle.diameter == 290 and params.box_scaling == 1.75
    assert params.binning_list == [4, 2, 1]
    assert params.initial_model.strategy == "denovo"
    assert params.compute.threads == 3 and params.compute.processes == 6
    assert params.compute.refine_mpi_ranks == 5
    assert params.remove_duplicates.distance == pytest.approx(87.0)


@pytest.mark.parametrize("text", ["4,4,1", "1,2", "", "4,a", "0"])
def test_bad_binning_lists_are_refused(text):
    with pytest.raises(ValueError):
        parse_binning_list(text)


def test_bracketed_binning_list_is_accepted():
    assert parse_binning_list("[6, 3, 1]") == [6, 3, 1]


def _write(tmp_path, data):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    return path


def test_unknown_key_is_refused_and_named(tmp_path):
    data = json.loads(dump_parameters(guide_parameters()))
    data["refine3d"]["nr_poool"] = 4
    with pytest.raises(ParameterError, match=r"bad.json: refine3d.nr_poool: Extra inputs"):
        load_parameters(_write(tmp_path, data))


def test_wrong_value_names_the_binning(tmp_path):
    data = json.loads(dump_parameters(guide_parameters()))
    data["binnings"][1]["refine3d"]["sampling"] = "2 degrees"
    with pytest.raises(ParameterError, match=r"binnings\[1\]\(bin 2\).refine3d.sampling"):
        load_parameters(_write(tmp_path, data))


def test_even_refine_ranks_are_refused(tmp_path):
    data = json.loads(dump_parameters(guide_parameters()))
    data["compute"]["refine_mpi_ranks"] = 4
    with pytest.raises(ParameterError, match=r"compute.refine_mpi_ranks: must be odd"):
        load_parameters(_write(tmp_path, data))


def test_box_smaller_than_particle_is_refused(tmp_path):
    data = json.loads(dump_parameters(guide_parameters()))
    data["binnings"][0]["box"] = data["binnings"][0]["extract_box"] = 40
    with pytest.raises(ParameterError, match="smaller than the particle"):
        load_parameters(_write(tmp_path, data))


def test_schema_1_files_are_refused_because_their_sampling_labels_meant_finer_searches(tmp_path):
    data = json.loads(dump_parameters(guide_parameters()))
    data["schema_version"] = 1
    with pytest.raises(ParameterError) as error:
        load_parameters(_write(tmp_path, data))
    message = str(error.value)
    assert "\n" not in message
    assert "schema version 1 labels every angular sampling one HEALPix order finer" in message
    assert "py2rely prepare relion5-parameters" in message


def test_other_schema_version_is_refused(tmp_path):
    data = json.loads(dump_parameters(guide_parameters()))
    data["schema_version"] = 99
    with pytest.raises(ParameterError, match="schema version 99 is not supported"):
        load_parameters(_write(tmp_path, data))


def test_not_a_parameter_file(tmp_path):
    with pytest.raises(ParameterError, match="schema_version: missing"):
        load_parameters(_write(tmp_path, {"hello": 1}))
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ParameterError, match="not valid JSON"):
        load_parameters(tmp_path / "x.json")
    with pytest.raises(ParameterError, match="file not found"):
        load_parameters(tmp_path / "missing.json")


def test_symmetry_is_validated():
    with pytest.raises(ValueError, match="accepted"):
        guide_parameters(symmetry="C2v")
